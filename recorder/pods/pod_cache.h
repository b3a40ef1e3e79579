#pragma once
// The pods of this node as the API server last described them, for the recorder's loop to read
// while the watcher's thread (recorder/pods/pod_watcher.h) writes. A lookup takes one short lock
// and copies a pointer: capture never waits on the API server, only on another lookup or on one
// change being applied (no parsing, no I/O under the lock).
//
// It answers "which spec held when this session started": each UID keeps its last few versions
// with the time each arrived, and a deleted pod stays a while (a preStop hook runs while its pod
// is being deleted, and is judged after the event). Both bounded, in number and in bytes: whoever
// may create pods bound to this node can create and delete them as fast as the API server takes,
// each as large as it takes. The newest version of each present pod is PodWatchState's to bound.

#include "common/time_format.h"
#include "recorder/pods/pod_watch.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace execaudit::recorder {

class PodCache final : public PodWatchListener {
public:
    struct Options {
        size_t versions_per_pod = 3;
        int64_t keep_deleted_ns = 600'000'000'000;  ///< 10 minutes
        size_t max_deleted = 10'000;
        /// The history: earlier versions and deleted pods, as PodInfo::footprint counts them. Past it
        /// the oldest deleted pods go first, then the oldest earlier versions.
        size_t max_history_bytes = 32u << 20;
    };
    struct Stats {
        size_t history_bytes = 0;
        uint64_t deleted_evicted = 0;   ///< deleted pods dropped before keep_deleted_ns for the bound
        uint64_t versions_evicted = 0;  ///< earlier versions dropped for the bound
    };
    explicit PodCache(Options options, std::function<int64_t()> clock = wall_clock_ns);
    PodCache() : PodCache(Options{}) {}

    /// The pod whose cgroups carry `uid` (its metadata.uid, or a static pod's config hash through
    /// its mirror) as it was at `at_ns`: the newest version that had arrived by then, else the first
    /// one that arrived after (the event came late). Null when unknown, and for a time before the
    /// oldest version left once an earlier one was dropped (the spec that held then is not known).
    std::shared_ptr<const PodInfo> find(std::string_view uid, int64_t at_ns) const;
    /// The newest version.
    std::shared_ptr<const PodInfo> find(std::string_view uid) const;
    /// Whether a list has completed at least once (before that, "unknown" means nothing).
    bool synced() const;
    size_t size() const;  ///< pods present now
    Stats stats() const;

    void replaced(const PodWatchState::PodMap& pods) override;
    void changed(const std::string& uid, std::shared_ptr<const PodInfo> pod) override;
    void refused(const std::string& uid) override;

private:
    struct Version {
        int64_t since_ns;
        std::shared_ptr<const PodInfo> pod;
        size_t bytes;  ///< pod->footprint()
    };
    struct Entry {
        std::vector<Version> versions;  ///< oldest first
        int64_t deleted_ns = 0;         ///< 0: present
        bool trimmed = false;           ///< an earlier version was dropped: before versions.front(), unknown
    };
    static size_t history_of(const Entry& e);  ///< all its versions when deleted, else all but the newest
    /// `bytes`: pod->footprint(), counted before the lock is taken (it walks the whole pod).
    void add_version(const std::string& uid, std::shared_ptr<const PodInfo> pod, size_t bytes, int64_t now);
    void put_version(Entry& e, std::shared_ptr<const PodInfo> pod, size_t bytes, int64_t now);
    void mark_deleted(const std::string& uid, int64_t now);
    void expire(int64_t now);
    void evict_history();
    void erase(const std::string& uid);
    const Entry* entry(std::string_view uid) const;

    Options options_;
    std::function<int64_t()> clock_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;       // guarded by mutex_; by UID
    std::unordered_map<std::string, std::string> mirrors_;  // guarded by mutex_; config hash -> UID
    std::vector<std::pair<int64_t, std::string>> deleted_;  // guarded by mutex_; in deletion order
    size_t present_ = 0;                                    // guarded by mutex_
    Stats stats_;                                           // guarded by mutex_
    bool evicted_warned_ = false;                           // guarded by mutex_
    bool synced_ = false;                                   // guarded by mutex_
};

}  // namespace execaudit::recorder
