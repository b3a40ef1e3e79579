#pragma once
// The pods of this node as the API server last described them, for the recorder's loop to read
// while the watcher's thread (recorder/pods/pod_watcher.h) writes. A lookup takes one short lock
// and copies a pointer: capture never waits on the API server, only on another lookup or on one
// change being applied (no parsing, no I/O under the lock).
//
// It answers "which spec held when this session started": each UID keeps its last few versions
// with the time each arrived, and a deleted pod stays a while (a preStop hook runs while its pod
// is being deleted, and is judged after the event). Both bounded.

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
    };
    explicit PodCache(Options options, std::function<int64_t()> clock = wall_clock_ns);
    PodCache() : PodCache(Options{}) {}

    /// The pod whose cgroups carry `uid` (its metadata.uid, or a static pod's config hash through
    /// its mirror) as it was at `at_ns`: the newest version that had arrived by then, else the first
    /// one that arrived after (the event came late). Null when unknown.
    std::shared_ptr<const PodInfo> find(std::string_view uid, int64_t at_ns) const;
    /// The newest version.
    std::shared_ptr<const PodInfo> find(std::string_view uid) const;
    /// Whether a list has completed at least once (before that, "unknown" means nothing).
    bool synced() const;
    size_t size() const;  ///< pods present now

    void replaced(const PodWatchState::PodMap& pods) override;
    void changed(const std::string& uid, std::shared_ptr<const PodInfo> pod) override;
    void refused(const std::string& uid) override;

private:
    struct Version {
        int64_t since_ns;
        std::shared_ptr<const PodInfo> pod;
    };
    struct Entry {
        std::vector<Version> versions;  ///< oldest first
        int64_t deleted_ns = 0;         ///< 0: present
    };
    void add_version(const std::string& uid, std::shared_ptr<const PodInfo> pod, int64_t now);
    void mark_deleted(const std::string& uid, int64_t now);
    void expire(int64_t now);
    void erase(const std::string& uid);
    const Entry* entry(std::string_view uid) const;

    Options options_;
    std::function<int64_t()> clock_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;       // guarded by mutex_; by UID
    std::unordered_map<std::string, std::string> mirrors_;  // guarded by mutex_; config hash -> UID
    std::vector<std::pair<int64_t, std::string>> deleted_;  // guarded by mutex_; in deletion order
    size_t present_ = 0;                                    // guarded by mutex_
    bool synced_ = false;                                   // guarded by mutex_
};

}  // namespace execaudit::recorder
