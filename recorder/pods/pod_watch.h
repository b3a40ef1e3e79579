#pragma once
// The API server's list/watch protocol for pods, without the transport: what a PodList answer and
// each line of a watch stream do to the node's pod cache, as client-go's reflector does it.
//
//   list   GET /api/v1/pods?fieldSelector=spec.nodeName%3DNODE&limit=500[&continue=TOKEN]
//   watch  GET /api/v1/pods?fieldSelector=...&watch=1&allowWatchBookmarks=true
//              &resourceVersion=RV&timeoutSeconds=N
//
// Watch lines are `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}`. Every event
// carries the resourceVersion to resume from; a BOOKMARK carries only that. An ERROR event holding
// a Status with code 410 (Expired/Gone) means the version is too old: list again. Lines are bounded
// (`max_object_bytes`): a longer one is skipped and counted, never buffered whole.

#include "recorder/pods/pod_spec.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::recorder {

struct PodWatchCounters {
    uint64_t lists = 0;
    uint64_t events = 0;
    uint64_t bookmarks = 0;
    uint64_t gone = 0;             // 410: relisted
    uint64_t error_events = 0;     // other ERROR events
    uint64_t garbage_lines = 0;    // not JSON, or not a watch event
    uint64_t oversized_lines = 0;  // longer than max_object_bytes
    uint64_t refused_pods = 0;     // a Pod object that breaks PodLimits (its older version is forgotten too)
    uint64_t over_budget_pods = 0;  // refused too: keeping it would pass max_kept_bytes
};

/// Told of every change to the cache, as it happens (PodCache, for the recorder to read).
class PodWatchListener {
public:
    virtual ~PodWatchListener() = default;
    /// A list finished: these are all the pods now (by UID).
    virtual void replaced(const std::map<std::string, std::shared_ptr<const PodInfo>>& pods) = 0;
    /// One pod added or modified (`pod` set) or deleted (`pod` null).
    virtual void changed(const std::string& uid, std::shared_ptr<const PodInfo> pod) = 0;
    /// A new version of the pod was refused (it breaks PodLimits): nothing known of it holds.
    virtual void refused(const std::string& uid) = 0;
};

class PodWatchState {
public:
    using PodMap = std::map<std::string, std::shared_ptr<const PodInfo>>;  // by UID
    enum class Line { applied, bookmark, gone, error, garbage, oversized };
    struct ListPage {
        bool ok = false;
        std::string error;
        std::string continue_token;  // non-empty: fetch the next page with it
    };

    /// `max_kept_bytes` bounds the footprint of the newest version of every pod kept: whoever may create
    /// pods bound to this node chooses how many there are and how large (up to max_object_bytes each).
    explicit PodWatchState(std::size_t max_object_bytes = 4u << 20, PodLimits limits = {},
                           std::size_t max_kept_bytes = 32u << 20);

    /// One page of a PodList. The first page of a list starts a new snapshot; the cache is replaced
    /// when the last page arrives (pods that vanished while the watch was down are dropped).
    ListPage apply_list_page(std::string_view body, bool first_page);

    /// Bytes of a watch response body, in any chunking. Calls `on_line` for each complete line.
    void feed(std::string_view bytes, const std::function<void(Line)>& on_line);
    /// One complete line (without its '\n').
    Line apply_line(std::string_view line);

    /// The version the next watch resumes from; empty before the first list or after a 410.
    const std::string& resource_version() const { return resource_version_; }
    bool needs_list() const { return resource_version_.empty(); }
    /// The version cannot be resumed from (an HTTP 410 answer): list again.
    void expire() { resource_version_.clear(); }
    /// A new watch connection starts: drop a partial line from the previous one.
    void reset_stream();

    const PodMap& pods() const { return pods_; }  // by UID
    void set_listener(PodWatchListener* listener) { listener_ = listener; }
    const PodInfo* find(std::string_view namespace_name, std::string_view pod) const;
    const PodWatchCounters& counters() const { return counters_; }
    /// The footprint of the pods kept (PodInfo::footprint of each newest version).
    std::size_t kept_bytes() const { return kept_bytes_; }

private:
    void finish_line(const std::function<void(Line)>& on_line);

    std::size_t max_object_bytes_;
    PodLimits limits_;
    std::size_t max_kept_bytes_;
    std::size_t kept_bytes_ = 0;     // of pods_
    std::size_t listing_bytes_ = 0;  // of listing_
    std::string resource_version_;
    void forget(const std::string& uid, bool refused);

    PodMap pods_;
    PodMap listing_;  // pages of a list in progress
    std::vector<std::string> refused_listing_;  // UIDs of its pods that were refused
    PodWatchListener* listener_ = nullptr;
    std::string partial_;
    bool skipping_ = false;  // inside an oversized line
    PodWatchCounters counters_;
};

}  // namespace execaudit::recorder
