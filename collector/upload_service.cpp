#include "collector/upload_service.h"

#include "common/log.h"
#include "common/time_format.h"

#include <fmt/format.h>

#include <set>

namespace execaudit::collector {
namespace http = boost::beast::http;
namespace pg = storage::pg;

UploadService::UploadService(Options options) : options_(std::move(options)) {
    for (size_t i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { worker(); });
}

UploadService::~UploadService() { stop(); }

void UploadService::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        wake_.notify_all();
    }
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    // what never reached a worker: the node sends it again
    std::deque<Job> left;
    {
        std::lock_guard lock(mutex_);
        left.swap(queue_);
    }
    for (auto& j : left) j.respond(net::retry_later(http::status::service_unavailable, 1, "the collector is stopping"));
}

void UploadService::count_refusal(Refusal r, const std::string& node, const std::string& message) {
    std::lock_guard lock(mutex_);
    ++refused_[refusal_name(r)];
    auto now = std::chrono::steady_clock::now();
    auto& last = refusal_logged_[node + "/" + refusal_name(r)];
    if (last == std::chrono::steady_clock::time_point{} || now - last > std::chrono::seconds(30)) {
        log::warn("upload from node {} refused ({}): {}", node, refusal_name(r), message);
        last = now;
    }
    if (refusal_logged_.size() > 10'000) refusal_logged_.clear();
}

net::HttpHandler UploadService::handler() {
    return [this](const net::HttpRequest& req, const net::PeerInfo& peer, net::Respond respond) {
        if (req.target() != "/v1/upload") return respond(net::make_response(http::status::not_found, "not found\n"));
        if (req.method() != http::verb::post)
            return respond(net::make_response(http::status::method_not_allowed, "POST a batch to /v1/upload\n"));
        // The node is who its certificate says, and only that: exactly one CN, a node name.
        if (!peer.authenticated || peer.common_names.size() != 1 || !upload::valid_node_name(peer.common_names[0])) {
            std::string why = !peer.authenticated ? "no verified client certificate"
                              : peer.common_names.size() != 1
                                  ? fmt::format("the certificate has {} common names (a node's has exactly one)", peer.common_names.size())
                                  : "the certificate's common name is not a node name (a DNS subdomain)";
            count_refusal(Refusal::node_mismatch, peer.subject, why);
            return respond(net::make_response(http::status::forbidden, why + "\n"));
        }
        if (req.body().size() > options_.limits.max_body) {
            count_refusal(Refusal::malformed, peer.common_names[0], "a body too large");
            return respond(net::make_response(http::status::payload_too_large, "the batch is too large\n"));
        }
        std::unique_lock lock(mutex_);
        if (queue_.size() >= options_.max_queued || stopping_) {
            ++busy_;
            lock.unlock();
            return respond(net::retry_later(http::status::service_unavailable, 1, "the collector is busy"));
        }
        queue_.push_back(Job{peer.common_names[0], req.body(), std::move(respond)});
        wake_.notify_one();
    };
}

void UploadService::worker() {
    std::optional<pg::Connection> conn;
    for (;;) {
        Job job;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        auto batch = upload::parse_batch(job.body, options_.limits);
        if (!batch) {
            count_refusal(Refusal::malformed, job.node, batch.error());
            job.respond(net::make_response(http::status::bad_request, "malformed batch: " + batch.error() + "\n"));
            continue;
        }
        try {
            if (!conn || !conn->ok()) conn.emplace(pg::Connection::open(options_.db_uri));
            auto result = ingest_batch(*conn, job.node, *batch, wall_clock_ns(), options_.cluster, options_.signer.get());
            if (result.refusal != Refusal::none) {
                count_refusal(result.refusal, job.node, result.message);
                job.respond(net::make_response(static_cast<http::status>(result.status), result.message + "\n"));
                continue;
            }
            // Each ended session's chain, as the node made it, against what is now stored: a node
            // whose records do not match its own chain is a finding, named in the log and counted.
            auto chains = check_chains(*conn, *batch, wall_clock_ns(), options_.signer.get());
            for (const auto& [id, why] : chains.failed)
                log::warn("FINDING: session {} from node {} does not verify against its node's hash chain: {}", id, job.node, why);
            // What a node sends of a session the collector sealed is never written; a record that
            // differs from the sealed one is the node rewriting what already left it.
            std::set<std::string> rewritten;
            for (const auto& [id, what] : result.sealed_rewrites)
                if (rewritten.insert(id).second)
                    log::warn("FINDING: node {} sent session {} again, changed after the collector sealed it ({}{}): ignored, "
                              "the sealed copy is kept",
                              job.node, id, what, result.sealed_rewrites.size() > 1 ? ", ..." : "");
            {
                std::lock_guard lock(mutex_);
                chains_intact_ += chains.intact.size();
                chains_failed_ += chains.failed.size();
                sealed_ += chains.sealed;
                sealed_resent_ += result.sealed_resent;
                sealed_rewrites_ += rewritten.size();
                ++batches_;
                records_stored_ += result.stored;
                records_replayed_ += result.replayed;
                records_deleted_ += result.deleted;
                // once per session (a bounded memory of which were named)
                for (const auto& id : result.deleted_sessions) {
                    if (deleted_logged_.size() >= 10'000) deleted_logged_.clear();
                    if (deleted_logged_.insert(id).second)
                        log::info("upload: node {} sent records of session {}, which retention deleted: acknowledged and "
                                  "ignored (a spool replayed after the deletion never brings it back)",
                                  job.node, id);
                }
                bytes_ += job.body.size();
                if (!db_error_.empty()) log::info("the database answers again");
                db_error_.clear();
            }
            job.respond(net::make_response(http::status::ok, result.message + "\n", "application/json"));
        } catch (const std::exception& e) {
            // PostgreSQL down or gone mid-batch: nothing was committed; the node sends it again.
            conn.reset();
            {
                std::lock_guard lock(mutex_);
                ++db_failures_;
                if (db_error_.empty()) log::warn("cannot store uploads: {}; answering 503 until the database is back", e.what());
                db_error_ = e.what();
            }
            job.respond(net::retry_later(http::status::service_unavailable, 2, "the database is unavailable"));
        }
    }
}

std::vector<net::Metric> UploadService::metrics() const {
    std::lock_guard lock(mutex_);
    std::vector<net::Metric> m{
        {"collector_upload_batches_total", "Node batches committed", "counter", static_cast<double>(batches_)},
        {"collector_upload_records_total", "Records stored from node batches", "counter", static_cast<double>(records_stored_)},
        {"collector_upload_replayed_records_total",
         "Records skipped because their spool position was committed already (a resend or a replay)", "counter",
         static_cast<double>(records_replayed_)},
        {"collector_upload_deleted_records_total",
         "Records of sessions retention deleted (tombstoned), acknowledged and ignored: never stored again", "counter",
         static_cast<double>(records_deleted_)},
        {"collector_upload_bytes_total", "Bytes of committed node batches", "counter", static_cast<double>(bytes_)},
        {"collector_upload_busy_total", "Batches answered 503 because every worker was busy", "counter", static_cast<double>(busy_)},
        {"collector_upload_database_failures_total", "Batches answered 503 because the database was unavailable", "counter",
         static_cast<double>(db_failures_)},
        {"collector_upload_queued", "Batches waiting for a worker", "gauge", static_cast<double>(queue_.size())},
        {"collector_chains_verified_total", "Ended sessions whose stored records match their node's hash chain on arrival",
         "counter", static_cast<double>(chains_intact_)},
        {"collector_chain_failures_total", "Ended sessions whose stored records do not match their node's hash chain (findings)",
         "counter", static_cast<double>(chains_failed_)},
        {"collector_sessions_sealed_total",
         options_.signer ? "Sessions the collector sealed after they verified on arrival, each countersigned"
                         : "Sessions the collector sealed after they verified on arrival (unsigned: no --signing-key)",
         "counter", static_cast<double>(sealed_)},
        {"collector_sealed_resent_records_total", "Records of sealed sessions a node sent again: never written", "counter",
         static_cast<double>(sealed_resent_)},
        {"collector_sealed_rewrites_total",
         "Sessions a node sent again changed after the collector sealed them (findings: the sealed copy is kept)", "counter",
         static_cast<double>(sealed_rewrites_)},
        {"collector_database_up", "1 while the last contact with PostgreSQL worked (a batch, or the probe every 2 s)", "gauge",
         db_error_.empty() ? 1.0 : 0.0},
    };
    for (auto r : {Refusal::malformed, Refusal::node_mismatch, Refusal::foreign_session, Refusal::unknown_session,
                   Refusal::database}) {
        auto it = refused_.find(refusal_name(r));
        m.push_back({"collector_upload_rejected_total", "Node batches refused, by reason", "counter",
                     static_cast<double>(it == refused_.end() ? 0 : it->second), {{"reason", refusal_name(r)}}});
    }
    return m;
}

std::string UploadService::not_ready() const {
    std::lock_guard lock(mutex_);
    return db_error_.empty() ? "" : "PostgreSQL does not answer: " + db_error_;
}

void UploadService::note_database(const std::string& error) {
    std::lock_guard lock(mutex_);
    db_error_ = error;
}

}  // namespace execaudit::collector
