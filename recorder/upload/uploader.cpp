#include "recorder/upload/uploader.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/time_format.h"
#include "proto/upload_wire.h"
#include "storage/session_store.h"
#include "storage/upload_records.h"
#include "storage/upload_spool.h"

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>

#include <unordered_set>

namespace execaudit::recorder {
namespace {
using Clock = std::chrono::steady_clock;
namespace v1 = upload::v1;

/// What the collector needs before a session's commands and chunks: its start. Whatever ended
/// arrives with the session's own record, in commit order, after what it ends.
v1::UploadSession start_of(const storage::SessionRecord& s) {
    auto u = storage::to_upload(s);
    u.set_status("open");
    u.clear_end_ns();
    u.clear_exit_code();
    u.clear_exit_signal();
    u.clear_chain_head();
    u.clear_chain_records();
    u.clear_head_signature();
    u.clear_signing_key();
    u.clear_kubelet();  // judged at its end
    return u;
}

std::string first_line(const std::string& body) {
    std::string line = body.substr(0, std::min(body.find('\n'), size_t{300}));
    for (auto& c : line)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
    return line;
}
/// The CN of the certificate in `path` (the first one of a chain): the name the collector will see.
std::string certificate_common_name(const std::string& path) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "r"), &std::fclose);
    if (!f) throw UsageError(fmt::format("--collector-cert {}: cannot be read", path));
    std::unique_ptr<X509, void (*)(X509*)> cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr), &X509_free);
    if (!cert) throw UsageError(fmt::format("--collector-cert {}: not a PEM certificate", path));
    X509_NAME* name = X509_get_subject_name(cert.get());
    int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (i < 0) return {};
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n < 0) return {};
    std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    return out;
}

}  // namespace

struct Uploader::Impl {
    storage::Database db;
    std::string spool_id;
    storage::UploadSpool spool;
    storage::SessionStore store;
    HttpsClient client;
    std::unordered_set<std::string> known;  ///< sessions the collector holds (their start is there)
    Clock::time_point last_heartbeat{};
    Clock::time_point last_backlog{};
    size_t batch_records, batch_bytes;
    Clock::time_point last_failure_log{};
    bool failing = false;
    bool foreign_logged = false;
    std::vector<std::string> pods;  ///< the hosted pods, as of last_pods
    Clock::time_point last_pods{};

    Impl(storage::Database d, const Options& o)
        : db(std::move(d)),
          spool_id(storage::enable_upload_spool(db)),
          spool(db),
          store(db),
          client(o.collector, o.tls, o.timeout),
          batch_records(o.batch_records),
          batch_bytes(o.batch_bytes) {}
};

Uploader::Uploader(Options options) : options_(std::move(options)) {
    // The collector stores a node's records under the name its certificate proves, and refuses a
    // batch that claims another: say so now rather than retry forever.
    std::string cn = certificate_common_name(options_.tls.cert_file);
    if (cn != options_.node)
        throw UsageError(fmt::format("--collector-cert {} is for node '{}', but this node is '{}' (--node-name, default: the "
                                     "hostname): the collector would refuse every upload",
                                     options_.tls.cert_file, cn, options_.node));
    if (!upload::valid_node_name(options_.node))
        throw UsageError(fmt::format("node name '{}' is not a Kubernetes node name (lowercase letters, digits, '-' and '.')",
                                     options_.node));
    impl_ = std::make_unique<Impl>(storage::Database::open(options_.db_path, storage::Database::Mode::read_write), options_);
    stats_.backlog = impl_->spool.backlog();
    stats_.acknowledged = impl_->spool.acknowledged();
}

Uploader::~Uploader() { stop(std::chrono::milliseconds(0)); }

void Uploader::start() {
    log::info("uploading to {} (spool {}, {} records waiting)", options_.collector.text(), impl_->spool_id, stats_.backlog);
    thread_ = std::thread([this] {
        try {
            run();
        } catch (const std::exception& e) {
            // Recording goes on; what is not acknowledged waits in the spool for the next start.
            log::error("upload to {} stopped: {}; records wait in the database for the next start", options_.collector.text(),
                       e.what());
        }
    });
}

void Uploader::stop(std::chrono::milliseconds drain) {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        drain_deadline_ = Clock::now() + drain;
        wake_.notify_all();
    }
    thread_.join();
    std::lock_guard lock(mutex_);
    if (stats_.backlog > 0)
        log::info("upload: {} records not yet acknowledged by the collector stay in the spool for the next start",
                  stats_.backlog);
}

Uploader::Stats Uploader::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

bool Uploader::stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
}

void Uploader::sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    if (stopping_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(drain_deadline_ - Clock::now());
        lock.unlock();
        std::this_thread::sleep_for(std::clamp(left, std::chrono::milliseconds(0), std::min(d, std::chrono::milliseconds(50))));
        return;
    }
    wake_.wait_for(lock, d, [&] { return stopping_; });
}

void Uploader::run() {
    auto backoff = options_.backoff_min;
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_ && (Clock::now() >= drain_deadline_ || stats_.backlog == 0)) return;
        }
        bool sent = false;
        bool ok = upload_once(sent);
        if (ok) {
            backoff = options_.backoff_min;
            if (!sent) sleep_for(options_.idle_poll);
        } else {
            sleep_for(backoff);
            backoff = std::min(backoff * 2, options_.backoff_max);
        }
    }
}

bool Uploader::upload_once(bool& sent_anything) {
    Impl& m = *impl_;
    auto now = Clock::now();
    int64_t read_ns = wall_clock_ns();
    auto entries = m.spool.pending(0, m.batch_records);

    std::vector<v1::UploadRecord> records;
    std::unordered_set<std::string> in_batch;  // sessions whose start this batch carries
    size_t bytes = 0, used = 0;
    int64_t last_position = 0;
    uint64_t missing = 0;
    // A session recorded under another node name (the database moved, --node-name changed) is
    // not this node's to upload: the collector would refuse the whole batch. Skipped and counted.
    uint64_t foreign = 0;
    auto ours = [&](const storage::SessionRecord& s) {
        if (s.node == options_.node) return true;
        ++foreign;
        return false;
    };
    auto has_start = [&](const std::string& id) {
        if (m.known.count(id) || in_batch.count(id)) return true;
        auto s = m.store.find(id);
        if (!s || !ours(*s)) return false;
        v1::UploadRecord r;
        *r.mutable_session() = start_of(*s);
        bytes += r.ByteSizeLong() + 5;
        records.push_back(std::move(r));
        in_batch.insert(id);
        return true;
    };
    for (const auto& e : entries) {
        v1::UploadRecord r;
        r.set_position(static_cast<uint64_t>(e.position));
        bool found = false;
        switch (e.kind) {
            case storage::SpoolKind::session:
                if (auto s = m.store.find(e.session_id); s && ours(*s)) {
                    *r.mutable_session() = storage::to_upload(*s);
                    in_batch.insert(e.session_id);
                    found = true;
                }
                break;
            case storage::SpoolKind::command:
                if (has_start(e.session_id))
                    if (auto c = m.store.command(e.session_id, e.seq)) {
                        *r.mutable_command() = storage::to_upload(*c);
                        found = true;
                    }
                break;
            case storage::SpoolKind::chunk:
                if (has_start(e.session_id))
                    if (auto k = m.store.stored_chunk(e.session_id, e.seq)) {
                        *r.mutable_chunk() = storage::to_upload(*k);
                        found = true;
                    }
                break;
        }
        size_t size = found ? r.ByteSizeLong() + 5 : 0;
        if (used > 0 && bytes + size > m.batch_bytes) break;
        ++used;
        last_position = e.position;
        if (!found) {
            ++missing;  // deleted before it left (retention): nothing to send, acknowledged with the rest
            continue;
        }
        bytes += size;
        records.push_back(std::move(r));
    }
    bool complete = used == entries.size() && entries.size() < m.batch_records;
    bool heartbeat_due = now - m.last_heartbeat >= options_.heartbeat_every;
    if (used == 0 && !heartbeat_due) return true;

    if (now - m.last_backlog >= std::chrono::seconds(1) || used == 0) {
        int64_t backlog = m.spool.backlog();
        std::lock_guard lock(mutex_);
        stats_.backlog = backlog;
        m.last_backlog = now;
    }
    v1::UploadRecord hb;
    auto* h = hb.mutable_heartbeat();
    h->set_sent_ns(wall_clock_ns());
    int64_t through = complete ? read_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(options_.commit_lag).count() : 0;
    h->set_uploaded_through_ns(through);
    {
        std::lock_guard lock(mutex_);
        h->set_backlog_records(std::max<int64_t>(stats_.backlog - static_cast<int64_t>(used), 0));
    }
    if (options_.hosted_pods && (m.last_pods == Clock::time_point{} || now - m.last_pods >= options_.heartbeat_every)) {
        m.pods = options_.hosted_pods();
        m.last_pods = now;
    }
    for (const auto& p : m.pods) h->add_pods(p);
    records.push_back(std::move(hb));

    v1::BatchHeader header;
    header.set_node(options_.node);
    header.set_spool_id(m.spool_id);
    header.set_sent_ns(wall_clock_ns());
    std::string body = upload::encode_batch(header, records);
    auto res = m.client.post("/v1/upload", body, "application/x-execaudit-upload");

    auto note_failure = [&](const std::string& why, bool rejected) {
        std::lock_guard lock(mutex_);
        (rejected ? stats_.rejected : stats_.failures)++;
        stats_.connected = m.client.connected();
        last_error_ = why;
        rejecting_ = rejected;
        if (!m.failing || now - m.last_failure_log >= std::chrono::seconds(30)) {
            log::warn("upload to {}: {}; {} records wait in the spool, retrying", options_.collector.text(), why,
                      stats_.backlog);
            m.last_failure_log = now;
        }
        m.failing = true;
    };
    if (!res) {
        note_failure(res.error(), false);
        return false;
    }
    if (res->status >= 200 && res->status < 300) {
        if (last_position > 0) m.spool.acknowledge(last_position);
        for (const auto& id : in_batch) m.known.insert(id);
        if (m.known.size() > 100'000) m.known.clear();
        m.last_heartbeat = now;
        std::lock_guard lock(mutex_);
        if (m.failing) log::info("upload to {} works again", options_.collector.text());
        m.failing = false;
        rejecting_ = false;
        last_error_.clear();
        stats_.batches++;
        stats_.records += records.size();
        stats_.bytes += body.size();
        stats_.missing += missing - std::min(missing, foreign);
        stats_.foreign += foreign;
        if (foreign && !m.foreign_logged) {
            log::warn("upload: this database holds sessions recorded under another node name than '{}'; they are not "
                      "uploaded (the collector knows this node by its certificate)", options_.node);
            m.foreign_logged = true;
        }
        stats_.acknowledged = std::max(stats_.acknowledged, last_position);
        stats_.backlog = std::max<int64_t>(stats_.backlog - static_cast<int64_t>(used), 0);
        stats_.connected = m.client.connected();
        stats_.last_ack_ns = wall_clock_ns();
        if (through) stats_.uploaded_through_ns = through;
        sent_anything = used > 0;
        return true;
    }
    std::string why = fmt::format("the collector answered {}: {}", res->status, first_line(res->body));
    if (res->status == 409) {
        // it lacks a session we thought it had (a restored or new database): send starts again
        m.known.clear();
        note_failure(why, false);
        return false;
    }
    if (res->status == 413 && m.batch_records > 1) {
        m.batch_records = std::max<size_t>(1, used / 2);
        m.batch_bytes = std::max<size_t>(64u << 10, bytes / 2);
        note_failure(why + " (sending smaller batches)", true);
        return false;
    }
    if (res->status == 503 || res->status == 429) {
        note_failure(why, false);
        if (res->retry_after_s > 0) sleep_for(std::chrono::seconds(std::min(res->retry_after_s, 30)));
        return false;
    }
    note_failure(why, res->status >= 400 && res->status < 500);
    return false;
}

std::vector<net::Metric> Uploader::metrics() const {
    auto s = stats();
    double age = s.last_ack_ns ? static_cast<double>(wall_clock_ns() - s.last_ack_ns) / 1e9 : -1;
    return {
        {"upload_backlog_records", "Records stored on this node and not yet acknowledged by the collector", "gauge",
         static_cast<double>(s.backlog)},
        {"upload_acknowledged_position", "The spool position the collector acknowledged last", "gauge",
         static_cast<double>(s.acknowledged)},
        {"upload_batches_total", "Batches the collector acknowledged", "counter", static_cast<double>(s.batches)},
        {"upload_records_total", "Records in acknowledged batches (resends included)", "counter", static_cast<double>(s.records)},
        {"upload_bytes_total", "Bytes of acknowledged batches", "counter", static_cast<double>(s.bytes)},
        {"upload_failures_total", "Upload attempts that failed (collector unreachable, 5xx)", "counter",
         static_cast<double>(s.failures)},
        {"upload_rejected_total", "Batches the collector refused (4xx)", "counter", static_cast<double>(s.rejected)},
        {"upload_missing_records_total", "Spooled records deleted on this node before they were uploaded", "counter",
         static_cast<double>(s.missing)},
        {"upload_foreign_records_total", "Spooled records of sessions recorded under another node name: not uploaded",
         "counter", static_cast<double>(s.foreign)},
        {"upload_connected", "1 while a connection to the collector stands", "gauge", s.connected ? 1.0 : 0.0},
        {"upload_last_ack_age_seconds", "Seconds since the collector last acknowledged a batch (-1: never)", "gauge", age},
    };
}

std::string Uploader::not_ready() const {
    std::lock_guard lock(mutex_);
    return rejecting_ ? "upload refused: " + last_error_ : "";
}

}  // namespace execaudit::recorder
