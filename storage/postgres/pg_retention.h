#pragma once
// Retention on the cluster store (docs/retention.md, "For the collector"): the node's rules
// (storage/retention_policy.h) over PostgreSQL, run by the leading collector replica alone
// (collector/leader.h starts it while it leads and stops it when it steps down).
//
// A session is deleted by age when it has ended, its rule's days have passed since its end, it is
// not under legal hold, and every SIEM destination of the collector has exported all of it: each
// of its outbox rows has an export position (given by the leader) and every destination's cursor
// is at or past the newest. Each deletion first writes the tombstone and its `deleted` ledger
// entry (storage/postgres/pg_ledger.h) in one transaction, then deletes the terminal chunks and the
// commands in small transactions, then the session row (with it its outbox rows); a deletion cut
// short is finished by the next pass, whichever replica leads then. A session whose row another
// transaction holds (an upload being stored, a hold being placed) is left for the next pass.
//
// By size (`collect --max-db-size`): while SUM(sessions.stored_bytes) (schema v8: what each
// session holds, kept up at ingest; not pg_database_size, which deleting rows never shrinks) is
// over the bound, the oldest ended, unheld, exported sessions go the same way, cause `size`. When
// nothing more may go the pass says so (Pass::size_unmet), logged once until the bound holds again.
//
// Thread: its own while started (start()/stop() may alternate: one per term of leadership), with
// a connection of its own; run_pass() can be called directly (tests) with the clock to use.

#include "storage/head_signing.h"
#include "storage/postgres/pg_connection.h"
#include "storage/retention_policy.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace execaudit::storage::pg {

class PgRetention {
public:
    struct Options {
        size_t chunk_batch = 64;       ///< terminal chunks deleted per transaction
        size_t command_batch = 2000;   ///< commands per transaction
        std::chrono::milliseconds pause{20};  ///< between two of its transactions (row locks: nobody else waits on them)
        std::chrono::milliseconds interval{60'000};  ///< between passes
    };
    struct Pass {
        uint64_t deleted_by_age = 0, deleted_by_size = 0, finished = 0;
        uint64_t held_kept = 0, unexported_kept = 0;
        uint64_t stored_bytes_deleted = 0;
        std::vector<std::string> deleted_ids;
        std::optional<uint64_t> stored_bytes;  ///< SUM(stored_bytes) after the pass (measured with --max-db-size only)
        bool size_unmet = false;  ///< the size bound still does not hold: nothing more may be deleted
        std::string unmet;        ///< why, for the log
    };
    struct Stats {
        uint64_t passes = 0, deleted_by_age = 0, deleted_by_size = 0, stored_bytes_deleted = 0;
        uint64_t held_kept = 0, unexported_kept = 0;  ///< of the latest pass
        bool size_unmet = false;                      ///< of the latest pass
        std::optional<uint64_t> stored_bytes;         ///< of the latest pass that measured
        uint64_t failed_passes = 0;
    };

    /// `policy.export_cursors`: the collector's destinations (export_cursor.name).
    PgRetention(std::string db_uri, RetentionPolicy policy, std::shared_ptr<const HeadSigner> signer, Options options);
    ~PgRetention();
    PgRetention(const PgRetention&) = delete;
    PgRetention& operator=(const PgRetention&) = delete;

    /// One pass on `c` at wall-clock time `now_ns`: finishes interrupted deletions, then deletes by
    /// age, then by size.
    Pass run_pass(Connection& c, int64_t now_ns);
    /// Passes every Options::interval on a thread of its own, the first at once, until stop().
    void start();
    /// Stops between two transactions. Idempotent; start() may follow.
    void stop();
    Stats stats() const;
    const RetentionPolicy& policy() const { return policy_; }

private:
    /// `held_bytes`: the session's stored_bytes as it was deleted.
    bool delete_session(Connection& c, const std::string& id, const char* cause, const std::string& rule, int64_t now_ns,
                        Pass& pass, uint64_t* held_bytes = nullptr);
    void delete_by_size(Connection& c, int64_t now_ns, Pass& pass);
    bool finish_deletion(Connection& c, const std::string& id, int64_t now_ns);
    void pause();
    bool stopping() const { return stop_.load(); }

    std::string uri_;
    RetentionPolicy policy_;
    std::shared_ptr<const HeadSigner> signer_;
    Options options_;
    std::atomic<bool> stop_{false};
    bool unmet_logged_ = false;  // the pass's own (one pass at a time)
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    Stats stats_;  // guarded by mutex_
    std::thread thread_;
};

}  // namespace execaudit::storage::pg
