#pragma once
// Exactly one collector replica correlates (and, later, exports): the one that holds a PostgreSQL
// advisory lock on a connection of its own. Every replica runs a Leader; each tries the lock
// every few seconds, and when the holder dies its connection goes and with it the lock, so another
// replica takes over within a few seconds. The leader reloads what may still change (pending
// requests, unsettled sessions), then feeds the correlator (attribution/) what the webhooks
// stored and the sessions the nodes uploaded, and writes its verdicts back (collector/pg_sink.h).
//
// `unrecorded` waits for the nodes: an allowed request whose pod a node hosts (its heartbeat
// lists the pod) stays pending until that node's upload is complete past the request's window
// plus the grace. A node that is behind or silent keeps it pending and shows in /metrics; a pod
// that no node reports is a pod no node covers, and its request is unrecorded once its time passes.
//
// While it leads it also runs the cluster store's retention (collect --retention-*), on a thread
// of its own that it stops when it steps down: only the leader ever deletes.
//
// Threads: its own (the lock attempts, and while leading an io_context for the correlator), and
// retention's while leading.

#include "attribution/correlator.h"
#include "export/export_settings.h"
#include "net/metrics.h"
#include "storage/head_signing.h"
#include "storage/postgres/pg_retention.h"
#include "storage/retention_policy.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace execaudit::collector {

class Leader {
public:
    struct Options {
        std::string db_uri;
        attribution::Correlator::Options correlation;
        std::chrono::milliseconds poll{500};
        std::chrono::milliseconds lock_retry{2000};
        int64_t behind_after_ns = 30'000'000'000;   ///< a node whose upload is complete only this long ago is behind
        int64_t silent_after_ns = 30'000'000'000;   ///< a node with no heartbeat for this long is silent
        int64_t gone_after_ns = 3600'000'000'000;   ///< ...and after this long its pods no longer hold requests
        exporting::ExportSettings exports;          ///< the SIEM export, run by the leader alone
        /// collect --retention-*: run by the leader alone, while it leads (storage/postgres/pg_retention.h);
        /// no age rule: none. Only what every export destination above has exported may go.
        storage::RetentionPolicy retention;
        std::chrono::milliseconds retention_interval{60'000};
        /// Signs the ledger entries of its deletions (collect --signing-key); null: unsigned.
        std::shared_ptr<const storage::HeadSigner> signer;
    };
    explicit Leader(Options options);
    ~Leader();
    Leader(const Leader&) = delete;
    Leader& operator=(const Leader&) = delete;

    void start();
    void stop();
    bool leading() const { return leading_; }
    /// The retention this replica runs while it leads (null: no --retention-* rule).
    const storage::pg::PgRetention* retention() const { return retention_.get(); }
    std::vector<net::Metric> metrics() const;

private:
    struct NodeProgress {
        int64_t last_heartbeat_ns = 0;
        int64_t uploaded_through_ns = 0;
        int64_t backlog = 0;
    };
    void run();
    void lead();
    bool stopping() const { return stopping_; }

    Options options_;
    std::unique_ptr<storage::pg::PgRetention> retention_;  // its thread runs only during lead()
    std::atomic<bool> stopping_{false};
    std::atomic<bool> leading_{false};
    std::thread thread_;
    mutable std::mutex mutex_;
    std::map<std::string, NodeProgress> nodes_;  // guarded by mutex_: the last view of the nodes table
    uint64_t terms_ = 0;                          // guarded by mutex_: times this replica became the leader
    uint64_t held_for_nodes_ = 0;                 // guarded by mutex_: unrecorded verdicts held back (last tick)
    uint64_t attributed_ = 0, unattributed_ = 0, unrecorded_ = 0, ambiguous_ = 0;  // guarded by mutex_
};

}  // namespace execaudit::collector
