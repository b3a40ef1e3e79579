#include "recorder/pods/pod_cache.h"

#include "common/log.h"

#include <algorithm>
#include <set>

namespace execaudit::recorder {

PodCache::PodCache(Options options, std::function<int64_t()> clock) : options_(options), clock_(std::move(clock)) {}

const PodCache::Entry* PodCache::entry(std::string_view uid) const {
    std::string key(uid);
    if (auto it = entries_.find(key); it != entries_.end()) return &it->second;
    if (auto m = mirrors_.find(key); m != mirrors_.end())
        if (auto it = entries_.find(m->second); it != entries_.end()) return &it->second;
    return nullptr;
}

std::shared_ptr<const PodInfo> PodCache::find(std::string_view uid, int64_t at_ns) const {
    std::lock_guard lock(mutex_);
    const Entry* e = entry(uid);
    if (!e || e->versions.empty()) return nullptr;
    if (e->trimmed && at_ns < e->versions.front().since_ns) return nullptr;
    std::shared_ptr<const PodInfo> held = e->versions.front().pod;
    for (const auto& v : e->versions)
        if (v.since_ns <= at_ns) held = v.pod;
    return held;
}

std::shared_ptr<const PodInfo> PodCache::find(std::string_view uid) const {
    std::lock_guard lock(mutex_);
    const Entry* e = entry(uid);
    return e && !e->versions.empty() ? e->versions.back().pod : nullptr;
}

bool PodCache::synced() const {
    std::lock_guard lock(mutex_);
    return synced_;
}

size_t PodCache::size() const {
    std::lock_guard lock(mutex_);
    return present_;
}

PodCache::Stats PodCache::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

size_t PodCache::history_of(const Entry& e) {
    size_t n = 0;
    for (const auto& v : e.versions) n += v.bytes;
    return e.deleted_ns || e.versions.empty() ? n : n - e.versions.back().bytes;
}

void PodCache::add_version(const std::string& uid, std::shared_ptr<const PodInfo> pod, size_t bytes, int64_t now) {
    Entry& e = entries_[uid];
    size_t before = history_of(e);
    if (e.deleted_ns) e.deleted_ns = 0;  // deleted_ is pruned lazily (expire checks deleted_ns)
    if (!pod->mirror_of.empty()) mirrors_[pod->mirror_of] = uid;
    put_version(e, std::move(pod), bytes, now);
    stats_.history_bytes = stats_.history_bytes - before + history_of(e);
}

void PodCache::put_version(Entry& e, std::shared_ptr<const PodInfo> pod, size_t bytes, int64_t now) {
    if (!e.versions.empty() && e.versions.back().pod->resource_version == pod->resource_version &&
        !pod->resource_version.empty())
        return;  // the same version again (a relist)
    if (!e.versions.empty() && e.versions.back().pod->same_but_version(*pod)) {
        // A status update: the spec held since the last version arrived. Keeping the newer object (for
        // its resourceVersion) in place of the older one, not beside it, bounds a busy pod's memory.
        e.versions.back().pod = std::move(pod);
        e.versions.back().bytes = bytes;
        return;
    }
    e.versions.push_back({now, std::move(pod), bytes});
    if (e.versions.size() > options_.versions_per_pod) {
        e.versions.erase(e.versions.begin());
        e.trimmed = true;
    }
}

void PodCache::mark_deleted(const std::string& uid, int64_t now) {
    auto it = entries_.find(uid);
    if (it == entries_.end() || it->second.deleted_ns) return;
    size_t before = history_of(it->second);
    it->second.deleted_ns = now;
    deleted_.emplace_back(now, uid);
    stats_.history_bytes = stats_.history_bytes - before + history_of(it->second);
}

void PodCache::evict_history() {
    if (stats_.history_bytes <= options_.max_history_bytes) return;
    if (!evicted_warned_) {
        evicted_warned_ = true;
        log::warn("pods from the API server: deleted pods and earlier versions of pods pass their bound ({} MiB): the "
                  "oldest are dropped (execaudit_kube_deleted_pods_evicted_total, execaudit_kube_pod_versions_evicted_"
                  "total); a session that started under what was dropped is judged as one whose pod spec is unknown",
                  options_.max_history_bytes >> 20);
    }
    // The oldest deleted pods first: what they are kept for (a preStop hook judged late) is rarest.
    size_t drop = 0;
    while (stats_.history_bytes > options_.max_history_bytes && drop < deleted_.size()) {
        const auto& [when, uid] = deleted_[drop++];
        auto it = entries_.find(uid);
        if (it == entries_.end() || it->second.deleted_ns != when) continue;  // added again since
        erase(uid);
        ++stats_.deleted_evicted;
    }
    deleted_.erase(deleted_.begin(), deleted_.begin() + static_cast<std::ptrdiff_t>(drop));
    // Then the oldest earlier version of a present pod. A walk of every entry, but only past the
    // bound; the newest versions are not history, so this ends.
    while (stats_.history_bytes > options_.max_history_bytes) {
        Entry* oldest = nullptr;
        for (auto& [uid, e] : entries_)
            if (!e.deleted_ns && e.versions.size() > 1 &&
                (!oldest || e.versions.front().since_ns < oldest->versions.front().since_ns))
                oldest = &e;
        if (!oldest) break;
        stats_.history_bytes -= oldest->versions.front().bytes;
        oldest->versions.erase(oldest->versions.begin());
        oldest->trimmed = true;
        ++stats_.versions_evicted;
    }
}

void PodCache::expire(int64_t now) {
    size_t drop = 0;
    while (drop < deleted_.size() &&
           (deleted_.size() - drop > options_.max_deleted || deleted_[drop].first + options_.keep_deleted_ns < now)) {
        const std::string& uid = deleted_[drop].second;
        auto it = entries_.find(uid);
        if (it != entries_.end() && it->second.deleted_ns && it->second.deleted_ns == deleted_[drop].first) erase(uid);
        ++drop;
    }
    deleted_.erase(deleted_.begin(), deleted_.begin() + static_cast<std::ptrdiff_t>(drop));
    evict_history();
    present_ = 0;
    for (const auto& [uid, e] : entries_)
        if (!e.deleted_ns) ++present_;
}

void PodCache::erase(const std::string& uid) {
    auto it = entries_.find(uid);
    if (it == entries_.end()) return;
    stats_.history_bytes -= history_of(it->second);
    for (const auto& v : it->second.versions)
        if (auto m = mirrors_.find(v.pod->mirror_of); m != mirrors_.end() && m->second == uid) mirrors_.erase(m);
    entries_.erase(it);
}

void PodCache::refused(const std::string& uid) {
    std::lock_guard lock(mutex_);
    erase(uid);
    expire(clock_());
}

void PodCache::replaced(const PodWatchState::PodMap& pods) {
    int64_t now = clock_();
    std::vector<size_t> bytes;  // in the map's order
    bytes.reserve(pods.size());
    for (const auto& [uid, pod] : pods) bytes.push_back(pod->footprint());
    std::lock_guard lock(mutex_);
    auto each = bytes.begin();
    for (const auto& [uid, pod] : pods) add_version(uid, pod, *each++, now);
    std::vector<std::string> gone;
    for (const auto& [uid, e] : entries_)
        if (!e.deleted_ns && !pods.contains(uid)) gone.push_back(uid);
    for (const auto& uid : gone) mark_deleted(uid, now);
    synced_ = true;
    expire(now);
}

void PodCache::changed(const std::string& uid, std::shared_ptr<const PodInfo> pod) {
    int64_t now = clock_();
    size_t bytes = pod ? pod->footprint() : 0;
    std::lock_guard lock(mutex_);
    if (pod)
        add_version(uid, std::move(pod), bytes, now);
    else
        mark_deleted(uid, now);
    expire(now);
}

}  // namespace execaudit::recorder
