#include "collector/pg_sink.h"

#include "common/log.h"
#include "common/time_format.h"
#include "storage/postgres/pg_writer.h"

namespace execaudit::collector {
namespace pg = storage::pg;
using Clock = std::chrono::steady_clock;

PgSink::PgSink(std::string uri) : uri_(std::move(uri)) {
    thread_ = std::thread([this] { run(); });
}

PgSink::~PgSink() { stop(std::chrono::milliseconds(0)); }

void PgSink::submit(storage::WriteOp op) {
    std::lock_guard lock(mutex_);
    if (queue_.size() > 200'000) {
        // the database has been away long: what the correlator decided is decided again after a takeover
        static bool logged = false;
        if (!logged) log::error("attribution: the database is away and 200000 records wait; dropping the oldest");
        logged = true;
        queue_.pop_front();
    }
    queue_.push_back(std::move(op));
    wake_.notify_one();
}

void PgSink::stop(std::chrono::milliseconds patience) {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        deadline_ = Clock::now() + patience;
        wake_.notify_all();
    }
    thread_.join();
}

bool PgSink::failing() const {
    std::lock_guard lock(mutex_);
    return failing_;
}

size_t PgSink::queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

namespace {

void apply(pg::Connection& c, const storage::WriteOp& op, int64_t now) {
    if (auto* s = std::get_if<storage::WriteAuditStages>(&op)) {
        // the leader stored (or re-read) them and correlated them: fed
        for (const auto& st : s->stages)
            c.exec("INSERT INTO audit_events (request_id, audit_id, stage, source, received_ns, stage_ns, ingested_ns, raw_json, "
                   "fed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true) ON CONFLICT (request_id, stage) DO UPDATE SET fed = true",
                   {pg::text(st.request_id), pg::text(st.audit_id), pg::text(st.stage), pg::text(st.source),
                    pg::num(st.received_ns), pg::num(st.stage_ns), pg::num(st.ingested_ns), pg::text(st.raw_json)});
    } else if (auto* r = std::get_if<storage::WriteExecRequest>(&op)) {
        pg::put_request(c, r->record);
    } else if (auto* a = std::get_if<storage::WriteAttribution>(&op)) {
        pg::put_attribution(c, pg::Attribution{.session_id = a->session_id, .attribution = a->attribution,
                                               .request_id = a->request_id, .audit_id = a->audit_id,
                                               .requester = a->requester, .verified = a->verified,
                                               .prefix_matched = a->prefix_matched, .entered_via = a->entered_via,
                                               .candidates = a->candidates},
                            now);
    }
    // sessions, commands and chunks come from the nodes' uploads, never from here
}

}  // namespace

void PgSink::run() {
    std::optional<pg::Connection> conn;
    std::deque<storage::WriteOp> batch;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, std::chrono::milliseconds(failing_ ? 1000 : 100),
                           [&] { return stopping_ || !queue_.empty(); });
            if (stopping_ && (queue_.empty() || Clock::now() >= deadline_)) {
                if (!queue_.empty()) log::warn("attribution: {} records not written at stop", queue_.size());
                return;
            }
            if (queue_.empty()) continue;
            batch.swap(queue_);
        }
        try {
            if (!conn || !conn->ok()) conn.emplace(pg::Connection::open(uri_));
            {
                pg::Transaction tx(*conn);
                int64_t now = wall_clock_ns();
                for (const auto& op : batch) apply(*conn, op, now);
                tx.commit();
            }
            for (auto& op : batch)
                if (auto* b = std::get_if<storage::WriteBarrier>(&op); b && b->on_committed) b->on_committed();
            batch.clear();
            std::lock_guard lock(mutex_);
            if (failing_) log::info("attribution: the database answers again");
            failing_ = false;
        } catch (const pg::PgError& e) {
            if (!e.connection_lost() && conn && conn->ok()) {
                // A record the database refuses (a constraint): one transaction each, so the rest
                // is written and only that one is dropped, logged; never retried forever.
                for (auto& op : batch) {
                    try {
                        pg::Transaction tx(*conn);
                        apply(*conn, op, wall_clock_ns());
                        tx.commit();
                    } catch (const pg::PgError& one) {
                        if (one.connection_lost()) break;
                        log::error("attribution: the cluster store refused a record (SQLSTATE {}); dropped", one.sqlstate());
                    }
                    if (auto* b = std::get_if<storage::WriteBarrier>(&op); b && b->on_committed) b->on_committed();
                }
                batch.clear();
                continue;
            }
            conn.reset();
            std::lock_guard lock(mutex_);
            if (!failing_) log::warn("attribution: cannot write to the cluster store: {}; retrying", e.what());
            failing_ = true;
            for (auto it = batch.rbegin(); it != batch.rend(); ++it) queue_.push_front(std::move(*it));
            batch.clear();
        } catch (const std::exception& e) {
            conn.reset();
            std::lock_guard lock(mutex_);
            if (!failing_) log::warn("attribution: cannot write to the cluster store: {}; retrying", e.what());
            failing_ = true;
            // back in front of what arrived meanwhile, in order
            for (auto it = batch.rbegin(); it != batch.rend(); ++it) queue_.push_front(std::move(*it));
            batch.clear();
        }
    }
}

}  // namespace execaudit::collector
