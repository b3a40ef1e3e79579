#pragma once
// Retention (docs/retention.md): which sessions a node keeps, and deleting the rest without
// losing track of them.
//
// A session is deleted by age when it has ended, its rule's days have passed since its end, it is
// not under legal hold (storage/session_holds.h), every configured export destination has
// confirmed all of its records (export_cursor >= its newest outbox position), and in cluster mode
// the collector has committed all of it (nothing of it is left in the upload spool). The rule is the
// most specific `--retention-namespace GLOB=DAYS` whose glob matches its namespace, else
// `--retention-days`. The database-wide bounds (`--max-db-size`, `--min-free-space`) then delete
// ended, unheld, exported sessions oldest first until they hold, whatever their rule says, and
// count it: such a tombstone has cause `size`, and `report` lists it as a finding. An open session
// is never deleted, so the session filling the disk is never deleted before older ones.
//
// Each deletion first writes a tombstone (what, when, which rule, the session's head) and its
// entry in the session ledger (storage/session_ledger.h), then deletes the terminal chunks and
// commands in small transactions (the recorder's writer waits at most one of them), then the
// session row; an interrupted deletion is finished by the next pass. Freed pages go back to the
// file system by incremental vacuum (databases created since v8).
//
// Folding (docs/kubelet-execs.md, "Folded runs"): each pass also folds the kubelet's repeated
// probe and hook runs. A run folds into the newest earlier row of the same container instance
// that repeats it exactly (attribution kubelet on both, no tty, the same argv, the same kubelet
// judgement, the same exit, the same tree of commands and terminal data, nothing lost, both hash
// chains intact), started at most
// Options::fold_window before it, ended, not held and not itself folded away. The run must be
// ended, unheld and confirmed by every export destination and the collector, like any deletion.
// In one transaction the target counts it (runs, last_run_ns, run_min/max_ns),
// the run gets its tombstone (cause `folded`, rule "folded into ID") and ledger entry, and its
// rows go: a probe run is a few commands, so a batch of folds is one short transaction.
//
// Thread: its own (start()), with its own connection; run_pass() can also be called directly
// (tests, a one-shot command) with the clock it should use.

#include "storage/database.h"
#include "storage/head_signing.h"
#include "storage/retention_policy.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace execaudit::storage {

class Retention {
public:
    struct Options {
        size_t chunk_batch = 64;          ///< terminal chunks deleted per transaction
        size_t command_batch = 2000;      ///< commands per transaction
        size_t vacuum_pages = 2048;       ///< pages returned to the file system per transaction
        /// Between two of its transactions: longer than SQLite's busy-handler poll (100 ms), so a
        /// waiting writer always gets the lock in between.
        std::chrono::milliseconds pause{150};
        std::chrono::milliseconds interval{60'000};  ///< between passes
        bool fold = true;                  ///< fold the kubelet's repeated runs
        int64_t fold_window_ns = 3'600'000'000'000;  ///< a run folds into a row started at most this long before it
        size_t fold_batch = 64;            ///< folds per transaction
    };
    struct Pass {
        uint64_t deleted_by_age = 0, deleted_by_size = 0, finished = 0;
        uint64_t folded = 0;           ///< kubelet runs folded into an earlier row (tombstones with cause folded)
        uint64_t held_kept = 0;        ///< past their rule, kept by a legal hold
        uint64_t unexported_kept = 0;  ///< past their rule, not yet confirmed by every export destination
        uint64_t stored_bytes_deleted = 0;
        uint64_t used_bytes_before = 0, used_bytes_after = 0;  ///< the database's live pages
        uint64_t file_bytes_before = 0, file_bytes_after = 0;  ///< the file on disk
        bool size_unmet = false;  ///< a size bound still does not hold: nothing more may be deleted
        std::string unmet;        ///< why, in words
        std::vector<std::string> deleted_ids;
    };
    struct Stats {
        uint64_t passes = 0, deleted_by_age = 0, deleted_by_size = 0, stored_bytes_deleted = 0, folded = 0;
        uint64_t held_kept = 0, unexported_kept = 0;  ///< of the latest pass
        uint64_t used_bytes = 0, file_bytes = 0;
        bool size_unmet = false;
    };

    /// Opens its own connection to `db_path`. Throws like Database::open.
    Retention(const std::string& db_path, RetentionPolicy policy, std::shared_ptr<const HeadSigner> signer, Options options);
    ~Retention();
    Retention(const Retention&) = delete;
    Retention& operator=(const Retention&) = delete;

    /// One pass at wall-clock time `now_ns`: finishes interrupted deletions, deletes by age, then
    /// by size, and reclaims the space. Errors are logged and end the pass (the next one retries).
    Pass run_pass(int64_t now_ns);
    /// Passes every Options::interval on a thread of its own, the first at once.
    void start();
    /// Stops between two transactions. Idempotent.
    void stop();
    Stats stats() const;
    const RetentionPolicy& policy() const { return policy_; }

private:
    std::optional<int64_t> export_floor();
    bool delete_session(const std::string& id, const std::string& cause, const std::string& rule, int64_t now_ns, Pass& pass);
    /// Inside a transaction: re-checks `id` and writes its tombstone and ledger entry; false
    /// when it may not go (gone, open, held, tombstoned already). Adds its stored bytes to `stored`.
    bool write_tombstone(const std::string& id, const std::string& cause, const std::string& rule, int64_t now_ns,
                         uint64_t& stored);
    void fold_runs(int64_t now_ns, Pass& pass);
    /// Inside a transaction: folds run `id` into `target` whole (re-checked); false when either changed.
    bool fold_into(const std::string& id, const std::string& target, int64_t now_ns, Pass& pass);
    bool finish_deletion(const std::string& id, int64_t now_ns);
    void reclaim();
    void pause();
    bool stopping() const { return stop_.load(); }
    struct Size {
        uint64_t used = 0, file = 0, freelist = 0, fs_total = 0, fs_free = 0;
    };
    Size measure();
    void delete_by_size(int64_t now_ns, Pass& pass);

    std::string path_;
    Database db_;
    RetentionPolicy policy_;
    std::shared_ptr<const HeadSigner> signer_;
    Options options_;
    bool incremental_vacuum_ = false;
    bool unmet_logged_ = false;
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    Stats stats_;  // guarded by mutex_
    std::thread thread_;
};

}  // namespace execaudit::storage
