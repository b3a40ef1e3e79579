#pragma once
// Cluster mode's node side (`record --collector`): sends everything the node stores to
// `execaudit collect`, at least once, in the order the node committed it. Its own thread and its
// own database connection, like an exporter: it never touches the capture path. It reads the
// spool (storage/upload_spool.h), POSTs batches (proto/upload_wire.h) over mutual TLS, and
// acknowledges a batch in the spool only once the collector answered 2xx, which it sends only
// after its PostgreSQL commit; after any restart it resumes from what is not acknowledged.
// While the collector is away the backlog stays in SQLite (counted in /metrics), and the
// uploader retries with backoff; in steady state a record leaves within about idle_poll plus
// the writer's commit interval.

#include "net/metrics.h"
#include "net/tls_context.h"
#include "recorder/upload/https_client.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace execaudit::recorder {

class Uploader {
public:
    struct Options {
        std::string db_path;
        std::string node;
        HttpsUrl collector;
        net::TlsOptions tls;  ///< the collector's CA, the node's certificate and key
        size_t batch_bytes = 4u << 20;
        size_t batch_records = 2000;
        std::chrono::milliseconds idle_poll{200};
        std::chrono::milliseconds heartbeat_every{5000};
        std::chrono::milliseconds timeout{15'000};
        std::chrono::milliseconds backoff_min{250};
        std::chrono::milliseconds backoff_max{10'000};
        /// How long a record may wait in the writer's queue before it is committed: a heartbeat
        /// vouches only for what was committed this long before it read the spool.
        std::chrono::milliseconds commit_lag{1000};
        /// The pods this node hosts, for heartbeats (called on the uploader's thread).
        std::function<std::vector<std::string>()> hosted_pods;
    };
    struct Stats {
        int64_t backlog = 0;          ///< records not acknowledged
        int64_t acknowledged = 0;     ///< spool position acknowledged last
        uint64_t batches = 0;         ///< batches the collector acknowledged
        uint64_t records = 0;         ///< records in them (resends included)
        uint64_t bytes = 0;           ///< their bodies
        uint64_t failures = 0;        ///< attempts that failed (transport, 5xx)
        uint64_t rejected = 0;        ///< batches the collector refused (4xx): a bug or a misconfiguration
        uint64_t missing = 0;         ///< spooled records gone from the database before they left (retention)
        uint64_t foreign = 0;         ///< spooled records of sessions recorded under another node name: not sent
        bool connected = false;
        int64_t last_ack_ns = 0;      ///< wall clock of the last acknowledgement
        int64_t uploaded_through_ns = 0;  ///< what the last heartbeat vouched for
    };

    /// Opens its own connection and enables the spool; throws UsageError for TLS files or a
    /// database that cannot be used.
    explicit Uploader(Options options);
    ~Uploader();
    Uploader(const Uploader&) = delete;
    Uploader& operator=(const Uploader&) = delete;

    void start();
    /// Sends what is committed now for at most `drain` (what stays is sent by the next start), then stops.
    void stop(std::chrono::milliseconds drain);
    Stats stats() const;
    std::vector<net::Metric> metrics() const;
    /// /readyz: "" unless the collector refuses our batches.
    std::string not_ready() const;

private:
    void run();
    /// One batch: true when it was acknowledged (or there was nothing to send).
    bool upload_once(bool& sent_anything);
    void sleep_for(std::chrono::milliseconds d);
    bool stopping() const;

    struct Impl;
    Options options_;
    std::unique_ptr<Impl> impl_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point drain_deadline_;
    Stats stats_;        // guarded by mutex_
    std::string last_error_;  // guarded by mutex_
    bool rejecting_ = false;  // guarded by mutex_: the latest batch was refused (4xx)
    std::thread thread_;
};

}  // namespace execaudit::recorder
