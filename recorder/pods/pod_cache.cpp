#include "recorder/pods/pod_cache.h"

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

void PodCache::add_version(const std::string& uid, std::shared_ptr<const PodInfo> pod, int64_t now) {
    Entry& e = entries_[uid];
    if (e.deleted_ns) e.deleted_ns = 0;  // deleted_ is pruned lazily (expire checks deleted_ns)
    if (!pod->mirror_of.empty()) mirrors_[pod->mirror_of] = uid;
    if (!e.versions.empty() && e.versions.back().pod->resource_version == pod->resource_version &&
        !pod->resource_version.empty())
        return;  // the same version again (a relist)
    if (!e.versions.empty() && e.versions.back().pod->same_but_version(*pod)) {
        // A status update: the spec held since the last version arrived. Keeping the newer object (for
        // its resourceVersion) in place of the older one, not beside it, bounds a busy pod's memory.
        e.versions.back().pod = std::move(pod);
        return;
    }
    e.versions.push_back({now, std::move(pod)});
    if (e.versions.size() > options_.versions_per_pod) e.versions.erase(e.versions.begin());
}

void PodCache::mark_deleted(const std::string& uid, int64_t now) {
    auto it = entries_.find(uid);
    if (it == entries_.end() || it->second.deleted_ns) return;
    it->second.deleted_ns = now;
    deleted_.emplace_back(now, uid);
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
    present_ = 0;
    for (const auto& [uid, e] : entries_)
        if (!e.deleted_ns) ++present_;
}

void PodCache::erase(const std::string& uid) {
    auto it = entries_.find(uid);
    if (it == entries_.end()) return;
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
    std::lock_guard lock(mutex_);
    for (const auto& [uid, pod] : pods) add_version(uid, pod, now);
    std::vector<std::string> gone;
    for (const auto& [uid, e] : entries_)
        if (!e.deleted_ns && !pods.contains(uid)) gone.push_back(uid);
    for (const auto& uid : gone) mark_deleted(uid, now);
    synced_ = true;
    expire(now);
}

void PodCache::changed(const std::string& uid, std::shared_ptr<const PodInfo> pod) {
    int64_t now = clock_();
    std::lock_guard lock(mutex_);
    if (pod)
        add_version(uid, std::move(pod), now);
    else
        mark_deleted(uid, now);
    expire(now);
}

}  // namespace execaudit::recorder
