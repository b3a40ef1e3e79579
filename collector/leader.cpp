#include "collector/leader.h"

#include "attribution/admission_review.h"
#include "attribution/attribution.h"
#include "attribution/audit_event.h"
#include "collector/pg_export_source.h"
#include "collector/pg_sink.h"
#include "export/exporter.h"
#include "common/log.h"
#include "common/time_format.h"
#include "storage/postgres/pg_connection.h"
#include "storage/postgres/pg_store.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <set>

namespace execaudit::collector {
namespace pg = storage::pg;
using namespace attribution;

namespace {
/// The advisory lock's key ("execlead"), fixed forever; not the migrations' ("execaudt"), which
/// every starting replica takes while the leader holds this one.
constexpr int64_t kLeaderLock = 0x65786563'6c656164;
}  // namespace

Leader::Leader(Options options) : options_(std::move(options)) {
    if (options_.retention.any_age_rule() || !options_.retention.max_db_size.off()) {
        auto policy = options_.retention;
        // what must have been exported before a session may go: every destination of this collector
        for (const auto& e : exporting::make_exporters(options_.exports, [] { return std::unique_ptr<exporting::ExportSource>(); }))
            policy.export_cursors.push_back(e->name());
        retention_ = std::make_unique<storage::pg::PgRetention>(options_.db_uri, std::move(policy), options_.signer,
                                                                storage::pg::PgRetention::Options{.interval = options_.retention_interval});
    }
}

Leader::~Leader() { stop(); }

void Leader::start() {
    thread_ = std::thread([this] { run(); });
}

void Leader::stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
}

void Leader::run() {
    while (!stopping()) {
        try {
            lead();
        } catch (const std::exception& e) {
            if (leading_) log::warn("correlation: leadership lost: {}", e.what());
        }
        leading_ = false;
        for (auto waited = std::chrono::milliseconds(0); waited < options_.lock_retry && !stopping();
             waited += std::chrono::milliseconds(100))
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

void Leader::lead() {
    // The lock lives as long as this connection: a replica that dies (or loses the database) lets go.
    auto lock_conn = pg::Connection::open(options_.db_uri);
    if (!lock_conn.exec("SELECT pg_try_advisory_lock($1)", {pg::num(kLeaderLock)}).boolean(0, 0)) return;
    auto conn = pg::Connection::open(options_.db_uri);
    leading_ = true;
    {
        std::lock_guard lock(mutex_);
        ++terms_;
    }
    log::info("correlation: this replica leads (it correlates every node's sessions with the API's requests)");

    boost::asio::io_context io;
    PgSink sink(options_.db_uri);
    std::map<std::string, std::vector<std::string>> hosts_of_pod;  // "namespace/pod" -> nodes listing it (loop thread)
    std::map<std::string, NodeProgress> progress;                   // loop thread
    uint64_t held = 0;
    auto correlation = options_.correlation;
    correlation.caught_up = [&](const ExecRequest& r, int64_t until_ns) {
        auto it = hosts_of_pod.find(r.target.namespace_name + "/" + r.target.pod);
        if (it == hosts_of_pod.end()) return true;  // no node reports the pod: no node covers it
        for (const auto& node : it->second) {
            auto p = progress.find(node);
            if (p == progress.end() || p->second.uploaded_through_ns < until_ns) {
                ++held;
                return false;
            }
        }
        return true;
    };
    Attribution attribution(io, correlation, sink);

    auto refresh_nodes = [&] {
        int64_t now = wall_clock_ns();
        auto rows = conn.exec("SELECT name, last_heartbeat_ns, uploaded_through_ns, backlog_records, pods_json FROM nodes");
        hosts_of_pod.clear();
        progress.clear();
        for (int i = 0; i < rows.rows(); ++i) {
            NodeProgress p{rows.int64(i, 1), rows.int64(i, 2), rows.int64(i, 3)};
            std::string name = rows.text(i, 0);
            progress[name] = p;
            if (p.last_heartbeat_ns && now - p.last_heartbeat_ns > options_.gone_after_ns) continue;
            auto pods = nlohmann::json::parse(rows.text(i, 4), nullptr, false);
            if (pods.is_array())
                for (const auto& pod : pods)
                    if (pod.is_string()) hosts_of_pod[pod.get<std::string>()].push_back(name);
        }
        std::lock_guard lock(mutex_);
        nodes_ = progress;
    };

    // Takeover: what may still change comes back with its stored verdict; stages whose request
    // never reached the store (the previous leader died between) are fed again.
    int64_t now = wall_clock_ns();
    int64_t horizon = now - options_.correlation.retention_ns;
    conn.exec("UPDATE audit_events SET fed = false WHERE fed AND received_ns > $1 AND NOT EXISTS "
              "(SELECT 1 FROM exec_requests r WHERE r.id = audit_events.request_id)",
              {pg::num(horizon)});
    refresh_nodes();
    pg::PgRequestStore requests(conn);
    pg::PgSessionStore sessions(conn);
    std::set<std::string> started, ended;
    {
        auto pending = requests.list(storage::RequestFilter{.states = {"pending", "ambiguous"}, .since_ns = horizon,
                                                            .limit = options_.correlation.max_requests / 2});
        std::vector<storage::SessionRecord> unsettled;
        auto ids = conn.exec("SELECT id FROM sessions WHERE (attribution IN ('pending', 'unattributed', 'ambiguous', 'workload') "
                             "OR status = 'open') AND coalesce(end_ns, last_activity_ns, start_ns) >= $1",
                             {pg::num(horizon)});
        for (int i = 0; i < ids.rows(); ++i)
            if (auto s = sessions.find(ids.text(i, 0))) {
                started.insert(s->id);
                if (s->end_ns) ended.insert(s->id);
                unsettled.push_back(std::move(*s));
            }
        attribution.reload(pending, unsettled, [&](const std::string& id) {
            std::vector<std::string> out;
            for (const auto& r : requests.requests_of_session(id)) out.push_back(r.id);
            return out;
        }, now);
    }

    // The SIEM export: the leader's alone, from each destination's cursor in the cluster store.
    auto start_exports = [&] {
        auto e = exporting::make_exporters(options_.exports, [&] { return std::make_unique<PgExportSource>(options_.db_uri); });
        for (auto& x : e) x->start();
        return e;
    };
    auto exporters = start_exports();
    // Retention while this replica leads, and never after: stopped on every way out of lead().
    struct RetentionTerm {
        storage::pg::PgRetention* r;
        ~RetentionTerm() {
            if (r) r->stop();
        }
    } retention_term{retention_.get()};
    if (retention_) {
        retention_->start();
        log::info("retention: this replica deletes from the cluster store: {}", retention_->policy().describe());
    }

    std::set<std::pair<std::string, std::string>> fed;  // stages handed to the correlator this term
    auto feed_stages = [&] {
        auto rows = conn.exec("SELECT request_id, stage, source, received_ns, raw_json FROM audit_events WHERE NOT fed "
                              "ORDER BY received_ns, request_id, stage LIMIT 2000");
        std::vector<AuditEvent> events;
        for (int i = 0; i < rows.rows(); ++i) {
            auto key = std::make_pair(rows.text(i, 0), rows.text(i, 1));
            if (!fed.insert(key).second) continue;
            std::string source = rows.text(i, 2), raw = rows.text(i, 4);
            if (source == "admission" || source == "admission-unverified") {
                auto review = parse_admission_review(raw, rows.int64(i, 3));
                if (review && review->request) {
                    review->request->verified = source == "admission";
                    attribution.admit(std::move(*review->request), raw);
                    continue;
                }
            } else {
                auto json = nlohmann::json::parse(raw, nullptr, false);
                if (!json.is_discarded()) {
                    auto event = parse_audit_event(json);
                    if (event && *event) {
                        events.push_back(std::move(**event));
                        continue;
                    }
                }
            }
            // stored by a webhook that parsed it, so this is not expected; never fed, never retried
            conn.exec("UPDATE audit_events SET fed = true WHERE request_id = $1 AND stage = $2", {pg::text(key.first), pg::text(key.second)});
            log::warn("correlation: stored stage {} {} cannot be read back; skipped", key.first, key.second);
        }
        if (!events.empty()) attribution.ingest(std::move(events), "webhook", std::nullopt, nullptr);
        if (fed.size() > 1'000'000) fed.clear();
    };
    auto feed_sessions = [&] {
        auto rows = conn.exec("SELECT id, end_ns IS NOT NULL FROM sessions WHERE attribution = 'pending' LIMIT 20000");
        for (int i = 0; i < rows.rows(); ++i) {
            std::string id = rows.text(i, 0);
            bool has_end = rows.boolean(i, 1);
            if (started.count(id) && (!has_end || ended.count(id))) continue;
            auto s = sessions.find(id);
            if (!s) continue;
            if (!started.count(id)) {
                attribution.session_started(*s);
                started.insert(id);
            }
            if (s->end_ns && !ended.count(id)) {
                attribution.session_ended(*s);
                ended.insert(id);
            }
        }
    };

    boost::asio::steady_timer timer(io);
    unsigned polls = 0;
    std::function<void()> poll = [&] {
        timer.expires_after(options_.poll);
        timer.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            try {
                if (stopping()) return io.stop();
                lock_conn.exec("SELECT 1");  // still holding the lock
                feed_sessions();
                feed_stages();
                // an exporter whose connection was lost ends; its cursor is in the store
                if (std::any_of(exporters.begin(), exporters.end(), [](const auto& x) { return x->finished(); })) {
                    for (auto& x : exporters) x->stop(std::chrono::milliseconds(0));
                    exporters = start_exports();
                }
                if (++polls % 2 == 0) {
                    refresh_nodes();
                    held = 0;
                    attribution.tick();
                    std::lock_guard lock(mutex_);
                    held_for_nodes_ = held;
                    const auto& st = attribution.stats();
                    attributed_ = st.attributed;
                    unattributed_ = st.unattributed;
                    unrecorded_ = st.unrecorded;
                    ambiguous_ = st.ambiguous;
                }
            } catch (const std::exception& e) {
                log::warn("correlation: {}; stepping down", e.what());
                return io.stop();
            }
            poll();
        });
    };
    poll();
    io.run();
    if (retention_) retention_->stop();
    for (auto& x : exporters) x->stop(std::chrono::seconds(2));
    sink.stop(std::chrono::seconds(5));
    leading_ = false;
    log::info("correlation: this replica no longer leads");
}

std::vector<net::Metric> Leader::metrics() const {
    std::lock_guard lock(mutex_);
    int64_t now = wall_clock_ns();
    std::vector<net::Metric> m{
        {"collector_leader", "1 while this replica correlates (it holds the advisory lock)", "gauge", leading_ ? 1.0 : 0.0},
        {"collector_leader_terms_total", "Times this replica became the leader", "counter", static_cast<double>(terms_)},
        {"collector_requests_waiting_for_nodes",
         "Allowed requests kept pending because the node hosting their pod has not uploaded past their window", "gauge",
         static_cast<double>(held_for_nodes_)},
        {"collector_sessions_attributed_total", "Sessions this replica attributed while leading", "counter", static_cast<double>(attributed_)},
        {"collector_sessions_unattributed_total", "Sessions with no API request (findings)", "counter", static_cast<double>(unattributed_)},
        {"collector_requests_unrecorded_total", "Allowed requests no node recorded (findings)", "counter", static_cast<double>(unrecorded_)},
    };
    if (retention_) {
        auto rs = retention_->stats();
        std::vector<std::pair<std::string, std::string>> age = {{"cause", "age"}}, size = {{"cause", "size"}};
        const char* help = "Sessions deleted from the cluster store by retention while this replica led (size: before their "
                           "rule, to stay within --max-db-size)";
        m.push_back({"retention_deleted_sessions_total", help, "counter", static_cast<double>(rs.deleted_by_age), age});
        m.push_back({"retention_deleted_sessions_total", help, "counter", static_cast<double>(rs.deleted_by_size), size});
        m.push_back({"retention_deleted_bytes_total", "Stored terminal bytes of the deleted sessions", "counter",
                     static_cast<double>(rs.stored_bytes_deleted)});
        m.push_back({"retention_held_kept", "Sessions past their rule kept by a legal hold (latest pass)", "gauge",
                     static_cast<double>(rs.held_kept)});
        m.push_back({"retention_unexported_kept", "Sessions past their rule waiting for an export destination (latest pass)",
                     "gauge", static_cast<double>(rs.unexported_kept)});
        if (!options_.retention.max_db_size.off()) {
            m.push_back({"retention_size_unmet",
                         "1 while --max-db-size cannot be met (everything left is open, held or unexported; latest pass)",
                         "gauge", rs.size_unmet ? 1.0 : 0.0});
            if (rs.stored_bytes)
                m.push_back({"database_bytes",
                             "What the cluster store's sessions hold, SUM(sessions.stored_bytes): terminal data as stored plus "
                             "an estimate per command (what --max-db-size bounds; not the files' size; latest pass)",
                             "gauge", static_cast<double>(*rs.stored_bytes)});
        }
        m.push_back({"retention_passes_total", "Retention passes this replica ran while it led", "counter",
                     static_cast<double>(rs.passes)});
        m.push_back({"retention_failed_passes_total", "Retention passes that failed (the log says why; the next one retries)",
                     "counter", static_cast<double>(rs.failed_passes)});
    }
    if (!leading_) return m;  // only the leader's view of the nodes is fresh
    int behind = 0, silent = 0;
    for (const auto& [name, p] : nodes_) {
        double lag = p.uploaded_through_ns ? static_cast<double>(now - p.uploaded_through_ns) / 1e9 : -1;
        double age = p.last_heartbeat_ns ? static_cast<double>(now - p.last_heartbeat_ns) / 1e9 : -1;
        if (!p.uploaded_through_ns || now - p.uploaded_through_ns > options_.behind_after_ns) ++behind;
        if (!p.last_heartbeat_ns || now - p.last_heartbeat_ns > options_.silent_after_ns) ++silent;
        m.push_back({"collector_node_upload_lag_seconds", "How far behind now a node's upload is complete (-1: never)", "gauge", lag,
                     {{"node", name}}});
        m.push_back({"collector_node_heartbeat_age_seconds", "Seconds since a node's last heartbeat (-1: never)", "gauge", age,
                     {{"node", name}}});
        m.push_back({"collector_node_backlog_records", "Records a node reported waiting in its spool", "gauge",
                     static_cast<double>(p.backlog), {{"node", name}}});
    }
    m.push_back({"collector_nodes_behind", "Nodes whose upload is complete only more than 30 s ago", "gauge", static_cast<double>(behind)});
    m.push_back({"collector_nodes_silent", "Nodes with no heartbeat for more than 30 s", "gauge", static_cast<double>(silent)});
    return m;
}

}  // namespace execaudit::collector
