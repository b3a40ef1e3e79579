#pragma once
// The collector's upload endpoint (POST /v1/upload on the node listener): a handler on the HTTP
// server's thread that only checks who is calling and queues the body, and a few workers, each
// with its own PostgreSQL connection, that parse, store and commit each batch, then answer.
// 2xx means committed. When PostgreSQL is down, slow, or the queue is full, the answer is 503 with
// Retry-After: the node keeps the batch in its spool and sends it again.

#include "collector/upload_ingest.h"
#include "net/http_server.h"
#include "net/metrics.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace execaudit::collector {

class UploadService {
public:
    struct Options {
        std::string db_uri;
        size_t workers = 4;
        size_t max_queued = 16;  ///< batches waiting for a worker; beyond: 503
        upload::WireLimits limits;
        std::optional<std::string> cluster;  ///< --cluster-name: stored with every session instead of the node's
        /// --signing-key: countersigns each session it seals (null: seals unsigned)
        std::shared_ptr<const storage::HeadSigner> signer;
    };
    explicit UploadService(Options options);
    ~UploadService();
    UploadService(const UploadService&) = delete;
    UploadService& operator=(const UploadService&) = delete;

    /// The handler for the node listener (mutual TLS against --node-ca).
    net::HttpHandler handler();
    void stop();
    std::vector<net::Metric> metrics() const;
    /// "" while the last database contact worked (a batch, or DatabaseProbe's); else why not.
    std::string not_ready() const;
    /// The outcome of a contact outside the workers (DatabaseProbe): "" it answered, else why not.
    void note_database(const std::string& error);

private:
    struct Job {
        std::string node;
        std::string body;
        net::Respond respond;
    };
    void worker();
    void count_refusal(Refusal r, const std::string& node, const std::string& message);

    Options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queue_;  // guarded by mutex_
    bool stopping_ = false;  // guarded by mutex_
    std::vector<std::thread> threads_;

    // counters, guarded by mutex_
    uint64_t chains_intact_ = 0, chains_failed_ = 0, sealed_ = 0, sealed_resent_ = 0, sealed_rewrites_ = 0;
    uint64_t batches_ = 0, records_stored_ = 0, records_replayed_ = 0, bytes_ = 0, busy_ = 0, db_failures_ = 0;
    uint64_t records_deleted_ = 0;
    std::set<std::string> deleted_logged_;  ///< deleted sessions whose late records were logged already
    std::map<std::string, uint64_t> refused_;  ///< by reason
    std::string db_error_;                     ///< the last database failure, while it lasts
    std::map<std::string, std::chrono::steady_clock::time_point> refusal_logged_;
};

}  // namespace execaudit::collector
