#include "recorder/recorder_metrics.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace execaudit::recorder {
using namespace net;  // HttpHandler, TlsOptions, Metric: the shared network edge (net/)

std::vector<Metric> recorder_metrics(const RecorderParts& p) {
    const auto& st = p.tracker.stats();
    const auto& at = p.attribution.stats();
    auto ws = p.writer.stats();
    ea_drop_counters drops = p.capture ? p.capture->drops() : ea_drop_counters{};
    auto d = [](auto v) { return static_cast<double>(v); };
    std::vector<Metric> m = {
        {"sessions_started_total", "Exec sessions seen starting", "counter", d(st.sessions_started)},
        {"sessions_ended_total", "Exec sessions seen ending", "counter", d(st.sessions_ended)},
        {"sessions_open", "Exec sessions running now", "gauge", d(p.tracker.open_sessions())},
        {"commands_total", "Commands (execve/execveat) recorded in sessions", "counter", d(st.commands)},
        {"output_bytes_total", "Terminal output bytes recorded", "counter", d(st.output_bytes)},
        {"input_bytes_total", "Terminal input bytes recorded", "counter", d(st.input_bytes)},
        {"lost_events_total", "Records of sessions the kernel could not hand over (ring buffer full)", "counter",
         d(st.lost_events)},
        {"lost_bytes_total", "Terminal bytes of sessions the kernel could not hand over", "counter", d(st.lost_bytes)},
        {"kernel_dropped_records_total", "Records the ring buffer refused, all causes", "counter", d(drops.events)},
        {"kernel_records_total", "Records received from the kernel", "counter", d(p.capture ? p.capture->records_received() : 0)},
        {"capture_tty_hook", "1 for the terminal hook loaded: fexit (the tty layer) or tracepoint (every syscall's exit)",
         "gauge", p.capture ? 1.0 : 0.0,
         {{"hook", std::string(p.capture ? Capture::tty_hook_name(p.capture->tty_hook()) : "none")}}},
        {"malformed_records_total", "Kernel records that failed validation", "counter", d(p.malformed_records)},
        {"audit_stages_total", "Audit event stages of exec-like requests stored", "counter", d(at.stages)},
        {"admission_reviews_total", "Admission reviews of exec-like requests", "counter", d(at.admission_reviews)},
        {"sessions_attributed_total", "Sessions matched to the API request that started them", "counter", d(at.attributed)},
        {"sessions_ambiguous_total", "Sessions that fit several API requests equally", "counter", d(at.ambiguous)},
        {"sessions_unattributed_total", "Sessions with no API request: entered from the node (findings)", "counter",
         d(at.unattributed)},
        {"requests_unrecorded_total", "Allowed exec requests with no session on this node", "counter", d(at.unrecorded)},
        {"requests_denied_total", "Exec requests refused by authorization", "counter", d(at.denied)},
        {"audit_stages_out_of_range_total", "Audit stages dated too far ahead of this node's clock: stored, not correlated",
         "counter", d(at.stages_out_of_range)},
        {"admission_reviews_unverified_total", "Admission reviews from a listener that cannot authenticate its sender",
         "counter", d(at.unverified_reviews)},
        {"webhook_batches_refused_total", "Webhook batches answered 503 because correlation was full", "counter",
         d(p.attribution.intake().refused.load())},
        {"admission_reviews_dropped_total", "Admission reviews answered but not kept because correlation was full", "counter",
         d(p.attribution.intake().reviews_dropped.load())},
        {"requests_tracked", "API requests held for correlation", "gauge", d(p.attribution.correlator().requests_tracked())},
        {"requests_forgotten_early_total", "Settled requests dropped before retention to stay within memory", "counter",
         d(p.attribution.correlator().stats().requests_forgotten_early)},
        {"store_transactions_total", "Database transactions committed", "counter", d(ws.transactions)},
        {"store_failed_commits_total", "Database commits that failed and were retried", "counter", d(ws.failed_commits)},
        {"store_failing", "1 while the database refuses writes (full or read-only disk): records wait in the queue, then are "
                          "dropped and counted", "gauge", ws.failing ? 1.0 : 0.0},
        {"store_queued_bytes", "Records waiting for the database writer, in bytes", "gauge", d(ws.queued_bytes)},
        {"store_dropped_chunks_total", "Terminal chunks dropped because the database could not be written and the queue "
                                       "was full (stored as gaps once it can)", "counter", d(ws.dropped_chunks)},
        {"store_dropped_bytes_total", "Terminal bytes in those chunks", "counter", d(ws.dropped_bytes)},
        {"store_dropped_commands_total", "Commands dropped for the same reason (counted in the session's lost_events)",
         "counter", d(ws.dropped_commands)},
        {"store_dropped_other_total", "Small records dropped at the queue's hard limit", "counter", d(ws.dropped_other)},
        {"store_gaps_written_total", "Gap records queued for what the database could not take", "counter", d(ws.gaps_written)},
        {"session_output_capped_bytes_total", "Terminal output beyond --max-session-output-mb, counted as lost", "counter",
         d(st.capped_bytes)},
    };
    // Pods from the API server: whether it is configured at all, whether the cache holds a full list,
    // and every way the connection or the stream failed.
    m.push_back({"kube_api_configured", "1 when pods are read from the API server (in-cluster or --kubeconfig); 0: the "
                                        "node's own names only, probe-like sessions stay findings (pod spec unknown)",
                 "gauge", p.pod_watcher ? 1.0 : 0.0});
    if (p.pod_watcher) {
        auto ps = p.pod_watcher->stats();
        auto cs = p.pods ? p.pods->stats() : PodCache::Stats{};
        const auto& w = ps.watch;
        m.insert(m.end(), {
            {"kube_pods_synced", "1 once the node's pods have been listed", "gauge", ps.synced ? 1.0 : 0.0},
            {"kube_watch_open", "1 while a pod watch stream is open", "gauge", ps.watching ? 1.0 : 0.0},
            {"kube_pods_cached", "Pods of this node held from the API server", "gauge", d(p.pods ? p.pods->size() : 0)},
            {"kube_lists_total", "Complete pod lists (the first, and each after 410 Gone)", "counter", d(w.lists)},
            {"kube_watch_events_total", "Pod watch events applied (ADDED, MODIFIED, DELETED)", "counter", d(w.events)},
            {"kube_watch_bookmarks_total", "BOOKMARK events", "counter", d(w.bookmarks)},
            {"kube_watch_gone_total", "410 Gone: the version expired, the pods were listed again", "counter", d(w.gone)},
            {"kube_watch_error_events_total", "Other ERROR events on the watch stream", "counter", d(w.error_events)},
            {"kube_watch_garbage_lines_total", "Watch lines that are not JSON or not a watch event (skipped)", "counter",
             d(w.garbage_lines)},
            {"kube_watch_oversized_lines_total", "Watch lines over --kube-max-object-mb (skipped, never buffered)", "counter",
             d(w.oversized_lines)},
            {"kube_pods_refused_total", "Pod objects that break the bounds (labels, argv, containers, the cache's size): "
             "their spec is unknown", "counter", d(w.refused_pods)},
            {"kube_pods_over_budget_total", "Of those, pods refused because keeping them would pass --kube-max-cache-mb",
             "counter", d(w.over_budget_pods)},
            {"kube_cache_bytes", "Bytes the pods kept hold, their newest versions (what --kube-max-cache-mb bounds)", "gauge",
             d(ps.kept_bytes)},
            {"kube_cache_history_bytes", "Bytes the earlier versions of pods and the deleted pods kept a while hold "
             "(bounded at --kube-max-cache-mb as well)", "gauge", d(cs.history_bytes)},
            {"kube_deleted_pods_evicted_total", "Deleted pods dropped before their ten minutes to keep the history within "
             "its bound (a preStop hook judged later is judged as one whose pod spec is unknown)", "counter",
             d(cs.deleted_evicted)},
            {"kube_pod_versions_evicted_total", "Earlier versions of pods dropped to keep the history within its bound (a "
             "session that started under one is judged as one whose pod spec is unknown)", "counter",
             d(cs.versions_evicted)},
            {"kube_requests_total", "Requests sent to the API server", "counter", d(ps.requests)},
            {"kube_connect_failures_total", "Connections or TLS handshakes with the API server that failed", "counter",
             d(ps.connect_failures)},
            {"kube_http_errors_total", "Answers other than 200 (401, 403, 410, 5xx, ...)", "counter", d(ps.http_errors)},
            {"kube_unauthorized_total", "401 answers: the token was refused (it is read again for each attempt)", "counter",
             d(ps.unauthorized)},
            {"kube_forbidden_total", "403 answers: the role lacks get/list/watch on pods", "counter", d(ps.forbidden)},
            {"kube_stream_failures_total", "Watch streams that broke, stalled or were cut mid-object (resumed)", "counter",
             d(ps.stream_failures)},
            {"kube_list_pages_too_large_total", "List pages over the bound, asked again in smaller pages", "counter",
             d(ps.page_too_large)},
        });
    }
    if (p.retention) {
        auto rs = p.retention->stats();
        std::vector<std::pair<std::string, std::string>> age = {{"cause", "age"}}, size = {{"cause", "size"}},
                                                         folded = {{"cause", "folded"}};
        constexpr const char* kDeletedHelp = "Sessions deleted by retention (size: before their rule, to stay within "
                                             "--max-db-size / --min-free-space; folded: a kubelet run counted by an earlier row)";
        m.push_back({"retention_deleted_sessions_total", kDeletedHelp, "counter", d(rs.deleted_by_age), age});
        m.push_back({"retention_deleted_sessions_total", kDeletedHelp, "counter", d(rs.deleted_by_size), size});
        m.push_back({"retention_deleted_sessions_total", kDeletedHelp, "counter", d(rs.folded), folded});
        m.push_back({"retention_deleted_bytes_total", "Stored terminal bytes of the deleted sessions", "counter",
                     d(rs.stored_bytes_deleted)});
        m.push_back({"retention_held_kept", "Sessions past their rule kept by a legal hold (latest pass)", "gauge", d(rs.held_kept)});
        m.push_back({"retention_unexported_kept", "Sessions past their rule waiting for an export destination (latest pass)",
                     "gauge", d(rs.unexported_kept)});
        m.push_back({"retention_size_unmet", "1 while a size bound cannot be met (everything left is open, held or unexported)",
                     "gauge", rs.size_unmet ? 1.0 : 0.0});
        m.push_back({"database_bytes", "The database's live pages (what --max-db-size bounds)", "gauge", d(rs.used_bytes)});
    }
    for (const auto& e : p.exporters) {
        auto es = e->stats();
        std::vector<std::pair<std::string, std::string>> dest = {{"destination", e->name()}};
        m.push_back({"export_backlog_records", "Records stored but not yet confirmed by the destination", "gauge",
                     d(es.backlog), dest});
        m.push_back({"export_sent_records_total", "Records handed to the destination (resends included)", "counter",
                     d(es.sent), dest});
        m.push_back({"export_failures_total", "Failed attempts to reach or write to the destination", "counter",
                     d(es.failures), dest});
        m.push_back({"export_connected", "1 while the destination is reachable", "gauge", es.connected ? 1.0 : 0.0, dest});
    }
    return m;
}

std::string recorder_not_ready(const RecorderParts& p, const std::string& db_path) {
    if (!p.capture || p.capture->programs_attached() == 0) return "the BPF programs are not attached yet";
    if (p.writer.stats().failing) return "database writes are failing (the log says why; they are retried)";
    // An idle writer would not notice a file system that went read-only or full: ask it.
    std::string dir = std::filesystem::path(db_path).parent_path().string();
    struct statvfs fs {};
    if (statvfs(dir.empty() ? "." : dir.c_str(), &fs) != 0)
        return fmt::format("cannot check the database's file system: {}", std::strerror(errno));
    if (fs.f_flag & ST_RDONLY) return "the database's file system is read-only";
    if (fs.f_bavail == 0) return "the database's file system is full";
    return "";
}

}  // namespace execaudit::recorder
