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

inline constexpr int64_t kDayNs = 86'400'000'000'000;

/// A size given as bytes ("10G", "512MiB", "1073741824") or as a share of the database's file
/// system ("25%"); "0" turns it off.
struct SizeBound {
    uint64_t bytes = 0;
    double percent = 0;  ///< > 0: a share of the file system
    std::string text;    ///< as given
    bool off() const { return bytes == 0 && percent <= 0; }
    uint64_t resolve(uint64_t filesystem_bytes) const;
};
/// Throws UsageError naming `flag` for anything else.
SizeBound parse_size_bound(std::string_view text, std::string_view flag);

struct NamespaceRule {
    std::string glob;             ///< fnmatch(3) pattern on the session's namespace
    std::optional<uint32_t> days; ///< nullopt: forever (never deleted by age)
    std::string text;             ///< "prod-*=400"
};
/// "GLOB=DAYS" or "GLOB=forever"; throws UsageError.
NamespaceRule parse_namespace_rule(std::string_view text);

struct RetentionPolicy {
    std::optional<uint32_t> days;  ///< --retention-days; nullopt: no age limit
    std::vector<NamespaceRule> namespaces;
    SizeBound max_db_size;     ///< the live pages of the database
    SizeBound min_free_space;  ///< free space kept on the database's file system (reusable pages count as free)
    /// Export cursors (export_cursor.name) that must have confirmed a session before it may go:
    /// the configured destinations. Empty: nothing gates deletion.
    std::vector<std::string> export_cursors;
    bool any_age_rule() const;
    std::string describe() const;  ///< for the start-up log line
};

/// The rule a namespace is kept by: its days (nullopt: no age limit) and its name as configured.
struct AppliedRule {
    std::optional<uint32_t> days;
    std::string text;  ///< "retention-days 30", "retention-namespace prod-*=400", "" (none)
};
/// The most specific matching namespace rule (an exact name beats any glob; then the glob with
/// the most characters other than * ? [ ]; then the first given), else --retention-days.
AppliedRule rule_for(const RetentionPolicy& policy, std::string_view namespace_name);

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
    struct Candidate {
        std::string id, namespace_name;
        int64_t ended_ns = 0;
        bool held = false, exported = true;
    };
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
