#pragma once
// The API server client for this node's pods: list (paged) and watch, over HTTPS (Boost.Beast,
// OpenSSL through net/tls_context), on a thread of its own so that nothing the API server does
// (down, slow, a stream that stops mid-object) ever holds up capture. What it learns goes to a
// PodCache (recorder/pods/pod_cache.h), which the recorder reads without waiting.
//
//   list   GET /api/v1/pods?fieldSelector=spec.nodeName%3DNODE&limit=500[&continue=TOKEN]
//   watch  GET /api/v1/pods?fieldSelector=...&watch=true&allowWatchBookmarks=true
//              &resourceVersion=RV&timeoutSeconds=N
//
// As client-go's reflector: a watch resumes from the newest resourceVersion (events and
// BOOKMARKs carry it); 410 Gone (an ERROR event, an HTTP answer, or an expired continue token)
// lists again; any other failure reconnects after an exponential backoff with jitter; a watch
// the server ends after timeoutSeconds reconnects at once. A stream that goes quiet past the
// timeout (plus `watch_grace`) is dropped. Lines and list pages are bounded; a page over the bound
// is asked again in smaller pages. The bearer token is read again for every connection (the
// kubelet rotates it) and a 401 is retried with the file's newest token.

#include "recorder/pods/kube_config.h"
#include "recorder/pods/pod_cache.h"
#include "recorder/pods/pod_watch.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace execaudit::recorder {

struct PodWatcherStats {
    PodWatchCounters watch;          ///< what the streams and lists held
    uint64_t requests = 0;           ///< HTTP requests sent
    uint64_t connect_failures = 0;   ///< no TCP connection or no TLS handshake
    uint64_t unauthorized = 0;       ///< 401: the token was refused
    uint64_t forbidden = 0;          ///< 403: the role lacks list/watch on pods
    uint64_t http_errors = 0;        ///< other answers than 200 (5xx, 429, ...), 401/403 included
    uint64_t stream_failures = 0;    ///< a watch that broke, stalled or was cut mid-object
    uint64_t watch_timeouts = 0;     ///< a watch the server ended after timeoutSeconds (normal)
    uint64_t page_too_large = 0;     ///< a list page over the bound: listed again in smaller pages
    uint64_t kept_bytes = 0;         ///< PodWatchState::kept_bytes: the newest version of every pod kept
    bool synced = false;             ///< the first list has completed
    bool watching = false;           ///< a watch stream is open now
    std::string last_error;          ///< the newest failure, for /metrics' help and the log
};

class PodWatcher {
public:
    struct Options {
        std::string node_name;
        std::chrono::seconds watch_timeout{300};  ///< timeoutSeconds is drawn from [this, 2x this), as client-go
        std::chrono::seconds watch_grace{30};     ///< a stream quiet past its timeout plus this is dropped
        std::chrono::seconds request_timeout{60};  ///< connect, handshake, and a whole list page
        std::chrono::milliseconds backoff_floor{500};
        std::chrono::milliseconds backoff_ceiling{30'000};
        size_t page_size = 500;                    ///< limit= of a list page
        size_t max_object_bytes = 4u << 20;        ///< a watch line (one object) at most
        size_t max_page_bytes = 64u << 20;         ///< a list page's body at most
        size_t max_kept_bytes = 32u << 20;         ///< the pods kept (their newest versions) at most
        PodLimits limits;
    };

    /// Starts at once on its own thread. Throws UsageError when the TLS files cannot be loaded.
    PodWatcher(KubeConfig config, Options options, PodCache& cache);
    ~PodWatcher();
    PodWatcher(const PodWatcher&) = delete;
    PodWatcher& operator=(const PodWatcher&) = delete;

    /// Stops the thread (closes whatever connection is open). Idempotent.
    void stop();
    PodWatcherStats stats() const;
    const KubeConfig& config() const { return config_; }

    struct Impl;

private:
    KubeConfig config_;
    std::unique_ptr<Impl> impl_;
    std::thread thread_;
};

}  // namespace execaudit::recorder
