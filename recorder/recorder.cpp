#include "recorder/recorder.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/time_format.h"
#include "attribution/admission_webhook.h"
#include "attribution/attribution.h"
#include "attribution/audit_log_tail.h"
#include "attribution/audit_webhook.h"
#include "attribution/kubelet_exec.h"
#include "recorder/capture/boot_clock.h"
#include "net/http_server.h"
#include "net/metrics.h"
#include "recorder/recorder_metrics.h"
#include "recorder/upload/uploader.h"
#include "recorder/pods/kubelet_logs.h"
#include "storage/upload_spool.h"
#include "recorder/capture/capture.h"
#include "recorder/capture/event_decoder.h"
#include "export/exporter.h"
#include "recorder/pods/kube_config.h"
#include "recorder/pods/pod_cache.h"
#include "recorder/pods/pod_metadata.h"
#include "recorder/pods/pod_resolver.h"
#include "recorder/pods/pod_watcher.h"
#include "recorder/capture/scope.h"
#include "recorder/capture/session_adoption.h"
#include "recorder/capture/session_tracker.h"
#include "recorder/capture/tracefs.h"
#include "storage/recorder_restart.h"
#include "storage/request_store.h"
#include "storage/retention.h"
#include "storage/store_writer.h"

#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>
#include <filesystem>
#include <set>
#include <boost/asio/steady_timer.hpp>
#include <unistd.h>

#include <functional>
#include <unordered_map>

namespace execaudit::recorder {
using namespace attribution;
using namespace exporting;
using namespace net;
namespace {

std::string hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
    return buf;
}

std::string describe_roots(const std::vector<CgroupRoot>& roots) {
    std::string out;
    for (const auto& r : roots) {
        if (!out.empty()) out += ", ";
        out += r.path;
    }
    return out;
}

/// The trust of one webhook listener, from the flags: mutual TLS by default.
HttpServerOptions webhook_listener(const RecordOptions& o, const std::string& name, const std::string& listen, bool admission) {
    parse_listen_address(listen, admission ? "--admission-webhook" : "--audit-webhook");  // a bad address first
    HttpServerOptions s{.name = name, .listen = listen, .body_limit = o.webhook_body_limit_mb << 20};
    if (o.insecure_http) {
        if (!o.tls_cert.empty()) throw UsageError("--insecure-http and --tls-cert: choose one");
        s.plain_http = true;
        s.plain_http_any_address = o.insecure_http_any_address;
        return s;
    }
    if (o.insecure_http_any_address) throw UsageError("--insecure-http-any-address goes with --insecure-http");
    if (o.tls_cert.empty() || o.tls_key.empty())
        throw UsageError(fmt::format("--{} needs --tls-cert and --tls-key, and --client-ca: the API server's client certificate "
                                     "is how a webhook knows who posts (for a test on this machine: --insecure-http)",
                                     admission ? "admission-webhook" : "audit-webhook"));
    s.tls = TlsFiles{.cert_file = o.tls_cert, .key_file = o.tls_key};
    if (admission && o.admission_unverified) {
        s.anonymous_tls = true;  // peers are told apart as unauthenticated: their identities are claims
        return s;
    }
    if (o.client_ca.empty())
        throw UsageError(fmt::format("--{} needs --client-ca{}", admission ? "admission-webhook" : "audit-webhook",
                                     admission ? " (or, on a managed cluster whose API server presents no client certificate, "
                                                 "--admission-unverified)"
                                               : ""));
    s.tls->clients = ClientTrust{.ca_file = o.client_ca, .subjects = o.client_subjects};
    return s;
}

/// Where the pods come from: a kubeconfig, else in-cluster, else nowhere (nullopt).
std::optional<KubeConfig> kube_config(const RecordOptions& o) {
    if (o.no_kube_api) {
        if (!o.kubeconfig.empty()) throw UsageError("--no-kube-api and --kubeconfig: choose one");
        return std::nullopt;
    }
    if (!o.kubeconfig.empty()) return load_kubeconfig(o.kubeconfig, o.kube_context);
    if (!o.kube_context.empty()) throw UsageError("--kube-context goes with --kubeconfig");
    return in_cluster_config(InClusterPaths{.service_account_dir = o.service_account_dir});
}

/// What the node knows of a cgroup, completed by the API server's pod where the node's own names
/// fall short (no kubelet log directory yet, a container the logs do not name).
void complete_identity(PodIdentity& id, const PodCache& pods) {
    if (id.pod_uid.empty()) return;
    auto pod = pods.find(id.pod_uid);
    if (!pod) return;
    if (id.namespace_name.empty() && id.pod.empty()) {
        id.namespace_name = pod->namespace_name;
        id.pod = pod->name;
    }
    if (id.container.empty())
        if (const ContainerSpec* c = pod->container_by_id(id.container_id)) id.container = c->name;
    id.meta = pod_metadata(*pod);
}

storage::RetentionPolicy retention_policy_of(const RecordOptions& o) {
    storage::RetentionPolicy p;
    if (o.retention_days) p.days = o.retention_days;
    for (const auto& r : o.retention_namespaces) p.namespaces.push_back(storage::parse_namespace_rule(r));
    p.max_db_size = storage::parse_size_bound(o.max_db_size, "max-db-size");
    p.min_free_space = storage::parse_size_bound(o.min_free_space, "min-free-space");
    return p;
}

/// What the pod spec that held when `s` started says of its container's kubelet execs; nullopt
/// when the pod is unknown. The container is the one the pod's status names for the session's
/// container ID where it can (a container named like another cannot borrow its probes).
std::optional<KubeletSpec> kubelet_spec(const storage::SessionRecord& s, const PodCache& pods) {
    auto pod = s.pod_uid.empty() ? nullptr : pods.find(s.pod_uid, s.start_ns);
    if (!pod) return std::nullopt;
    const ContainerSpec* mine = pod->container_by_id(s.container_id);
    if (!mine) mine = pod->container(s.container);
    KubeletSpec spec;
    spec.container = mine ? mine->name : s.container;
    auto action = [](const KubeletExec& e) {
        return KubeletAction{e.kind == KubeletExec::Kind::probe ? "probe" : "hook", e.name, e.argv};
    };
    for (const auto& c : pod->containers)
        for (const auto& e : c.execs) {
            if (&c == mine) spec.actions.push_back(action(e));
            else spec.others.emplace_back(c.name, action(e));
        }
    return spec;
}

/// The commands of the sessions that may be kubelet runs, until each ends (bounded).
struct KubeletRuns {
    static constexpr size_t kMaxSessions = 10'000, kMaxCommands = 64;
    struct Run {
        std::vector<std::vector<std::string>> commands;
        bool complete = true;
    };
    std::unordered_map<std::string, Run> runs;

    void started(const storage::SessionRecord& s) {
        if (!s.tty && runs.size() < kMaxSessions) runs.emplace(s.id, Run{});
    }
    void command(const storage::CommandRecord& c) {
        auto it = runs.find(c.session_id);
        if (it == runs.end()) return;
        if (it->second.commands.size() >= kMaxCommands || c.argv_truncated) it->second.complete = false;
        else it->second.commands.push_back(c.argv);
    }
    KubeletJudgement ended(const storage::SessionRecord& s, const PodCache& pods) {
        Run run;
        if (auto it = runs.find(s.id); it != runs.end()) {
            run = std::move(it->second);
            runs.erase(it);
        } else if (!s.tty) {
            run.complete = false;  // not followed from its start (over the bound)
        }
        if (run.commands.empty()) run.commands.push_back(s.command);
        bool complete = run.complete && !s.start_lost && s.lost_events == 0 && !s.command_truncated;
        return judge_kubelet_exec(kubelet_spec(s, pods), s.tty, run.commands, complete);
    }
};

}  // namespace

int run_record(const RecordOptions& options) {
    if (options.tls_cert.empty() != options.tls_key.empty()) throw UsageError("--tls-cert and --tls-key go together");
    if (options.audit_skew_s < 0 || options.audit_grace_s < 0) throw UsageError("--audit-skew and --audit-grace cannot be negative");
    std::optional<KubeConfig> kube = kube_config(options);  // a bad kubeconfig is a bad flag: before anything starts
    storage::RetentionPolicy retention_policy = retention_policy_of(options);  // a bad rule: exit 2 before anything starts
    CgroupFs cgroups = CgroupFs::discover();
    auto roots = choose_roots(cgroups, options.cgroup_roots);
    std::string node = options.node_name.empty() ? hostname() : options.node_name;

    std::shared_ptr<const storage::HeadSigner> signer;
    if (!options.signing_key.empty())
        signer = std::make_shared<storage::HeadSigner>(storage::HeadSigner::from_pem_file(options.signing_key));
    auto db = storage::Database::open(options.db_path, storage::Database::Mode::read_write);
    if (options.collector.empty() && storage::get_recorder_state(db, storage::kUploadSpoolKey)) {
        int64_t left = storage::disable_upload_spool(db);
        log::warn("this database was a cluster node's spool; without --collector nothing is uploaded{}",
                  left ? fmt::format(" ({} records stay unsent until --collector is given again)", left) : "");
    }
    std::string boot_id = read_boot_id();
    // Whether the previous recorder flushed everything before it went (a clean stop in this boot)
    bool clean_stop = storage::get_recorder_state(db, storage::kCleanStopKey) == boot_id;
    storage::clear_recorder_state(db, storage::kCleanStopKey);
    auto reader = storage::Database::open(options.db_path, storage::Database::Mode::read_only);
    storage::StoreWriter writer(std::move(db), {.max_queued_bytes = options.store_queue_mb << 20, .signer = signer});
    if (signer) log::info("session heads are signed with Ed25519 key {}", signer->key_id());
    // Export runs beside recording, on threads and connections of its own (export/exporter.h).
    auto exporters = make_exporters(options.exports, options.db_path);
    for (auto& e : exporters) e->start();
    // Cluster mode: everything stored from now on (and before, the first time) leaves the node.
    std::unique_ptr<Uploader> uploader;
    if (!options.collector.empty()) {
        if (options.collector_cert.empty())
            throw UsageError("--collector needs --collector-cert and --collector-key: the collector knows a node by its "
                             "client certificate (CN = the node's name)");
        uploader = std::make_unique<Uploader>(Uploader::Options{
            .db_path = options.db_path, .node = node, .collector = parse_https_url(options.collector, "--collector"),
            .tls = {.ca_file = options.collector_ca, .cert_file = options.collector_cert, .key_file = options.collector_key},
            // which pods this node hosts, for the collector's `unrecorded`: the kubelet's pod log directories
            .hosted_pods = [dir = options.pods_log_dir] {
                std::vector<std::string> pods;
                std::error_code ec;
                for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
                    if (pods.size() >= 50'000) break;
                    if (auto p = parse_pod_log_dir(e.path().filename().string()))
                        pods.push_back(p->namespace_name + "/" + p->pod);
                }
                return pods;
            }});
        uploader->start();
    } else if (!options.collector_cert.empty() || !options.collector_ca.empty() || !options.collector_key.empty()) {
        throw UsageError("--collector-ca, --collector-cert and --collector-key go with --collector https://HOST:PORT");
    }
    // Retention beside them, on its own thread and connection: only what every destination confirmed may go.
    for (auto& e : exporters) retention_policy.export_cursors.push_back(e->name());
    storage::Retention retention(options.db_path, retention_policy, signer,
                                 {.interval = std::chrono::milliseconds(static_cast<int64_t>(options.retention_interval_s * 1000))});
    log::info("retention: {}", retention_policy.describe());

    ensure_tracefs();
    boost::asio::io_context io;
    BootClock clock;
    PodResolver resolver(cgroups, {options.pods_log_dir, options.containers_log_dir});
    // The API server's pods arrive on the watcher's thread; the loop only ever reads the cache.
    PodCache pods(PodCache::Options{.max_history_bytes = options.kube_max_cache_mb << 20});
    std::unique_ptr<PodWatcher> pod_watcher;
    if (kube) {
        PodWatcher::Options w{.node_name = node, .watch_timeout = std::chrono::seconds(options.kube_watch_timeout_s)};
        w.max_object_bytes = options.kube_max_object_mb << 20;
        w.max_page_bytes = w.max_object_bytes * 16;
        w.max_kept_bytes = options.kube_max_cache_mb << 20;
        pod_watcher = std::make_unique<PodWatcher>(*kube, w, pods);
        log::info("pods of node {} from the API server {} ({}): labels, owners, workloads and the kubelet's exec probes "
                  "and hooks", node, kube->server(), kube->source);
    } else {
        log::warn("pods are known from the node only ({}): sessions carry no labels or workload, and the kubelet's exec "
                  "probes and hooks cannot be told from look-alikes (findings marked \"pod spec unknown\")",
                  options.no_kube_api ? "--no-kube-api" : "not in a pod and no --kubeconfig");
    }
    SessionTracker tracker(
        SessionTracker::Options{.node = node, .boot_id = boot_id,
                                .max_output_bytes = options.max_session_output_mb << 20,
                                .cluster = options.cluster_name.empty() ? std::nullopt
                                                                        : std::optional<std::string>(options.cluster_name)},
        [&](uint64_t cgroup_id) {
            PodIdentity id = resolver.resolve(cgroup_id);
            complete_identity(id, pods);
            return id;
        },
        [&](storage::WriteOp op) { writer.submit(std::move(op)); }, clock);

    Correlator::Options correlation;
    correlation.skew_ns = static_cast<int64_t>(options.audit_skew_s * 1e9);
    correlation.grace_ns = static_cast<int64_t>(options.audit_grace_s * 1e9);
    Attribution attribution(io, correlation, writer);
    KubeletRuns kubelet_runs;
    tracker.set_command_observer([&](const storage::CommandRecord& c) { kubelet_runs.command(c); });
    tracker.set_end_judge([&](storage::SessionRecord& session) {
        if (entry_kind_of(session.entered_via) != EntryKind::exec) return;
        auto j = kubelet_runs.ended(session, pods);
        session.kubelet = storage::KubeletCheck{.kubelet = j.kubelet, .entered_via = j.entered_via, .name = j.name, .reason = j.reason};
    });
    tracker.set_observer([&](const storage::SessionRecord& session, bool ended) {
        if (ended) {
            attribution.session_ended(session);  // decides by its kubelet judgement, stored with its end
        } else {
            if (entry_kind_of(session.entered_via) == EntryKind::exec) kubelet_runs.started(session);
            attribution.session_started(session);
        }
    });

    std::vector<std::unique_ptr<HttpServer>> servers;
    if (!options.client_ca.empty() && options.client_subjects.empty() &&
        (!options.audit_webhook.empty() || !options.admission_webhook.empty()))
        log::warn("--client-ca without --client-subject: any certificate {} signed may post identities (a cluster CA signs "
                  "every node's and user's); name the API server's with --client-subject",
                  options.client_ca);
    if (!options.audit_webhook.empty())
        servers.push_back(std::make_unique<HttpServer>(webhook_listener(options, "audit webhook", options.audit_webhook, false),
                                                       make_audit_webhook(attribution)));
    if (!options.admission_webhook.empty())
        servers.push_back(std::make_unique<HttpServer>(
            webhook_listener(options, "admission webhook", options.admission_webhook, true), make_admission_webhook(attribution)));
    std::unique_ptr<AuditLogTail> audit_log;
    if (!options.audit_log.empty()) {
        storage::RequestStore requests(reader);
        audit_log = std::make_unique<AuditLogTail>(io, options.audit_log, requests.log_cursor(options.audit_log),
                                                   [&](AuditLogTail::Batch batch) {
                                                       attribution.ingest(std::move(batch.events), "log", batch.cursor, nullptr);
                                                   });
        audit_log->pause_while([&] { return !attribution.accepting(); });
    }
    if (servers.empty() && !audit_log)
        log::warn("no audit source (--audit-webhook, --audit-log, --admission-webhook): sessions will say who ran them only "
                  "once one is configured; after --audit-grace they are reported as unattributed");

    uint64_t malformed = 0;
    Capture* capture_ptr = nullptr;  // set once the programs are loaded
    auto collect_metrics = [&]() {
        auto m = recorder_metrics(RecorderParts{tracker, attribution, writer, capture_ptr, malformed, exporters, &retention,
                                                pod_watcher.get(), &pods});
        if (uploader)
            for (auto& u : uploader->metrics()) m.push_back(std::move(u));
        return m;
    };
    auto not_ready = [&]() {
        return recorder_not_ready(RecorderParts{tracker, attribution, writer, capture_ptr, malformed, exporters, &retention,
                                                pod_watcher.get(), &pods},
                                  options.db_path);
    };
    if (!options.metrics.empty())
        servers.push_back(std::make_unique<HttpServer>(
            HttpServerOptions{.name = "metrics", .listen = options.metrics, .plain_http = true, .plain_http_any_address = true,
                              .body_limit = 1 << 16},
            on_executor(io.get_executor(), make_metrics_handler(collect_metrics, not_ready))));

    auto on_batch = [&](std::span<const std::byte> batch) {
        Capture::for_each_record(batch, [&](std::span<const std::byte> record) {
            auto event = decode_event(record);
            if (!event) {
                if (malformed++ < 10) log::error("malformed record from the kernel: {}", event.error());
                return;
            }
            tracker.on_event(*event);
        });
    };
    Capture capture(io, Capture::Options{.roots = roots, .ring_bytes = options.ring_buffer_mb << 20,
                                              .keep_echo_off_input = options.keep_echo_off_input,
                                              .pin_dir = options.bpf_pin_dir,
                                              .tty_hook = options.tty_hook == "fexit"        ? TtyHook::fexit
                                                          : options.tty_hook == "tracepoint" ? TtyHook::tracepoint
                                                                                             : TtyHook::automatic},
                    on_batch);
    {
        // The sessions the kernel went on following while no recorder ran continue; the rest
        // (another boot, no kernel state left) were abandoned.
        auto restart_db = storage::Database::open(options.db_path, storage::Database::Mode::read_write);
        std::vector<storage::ResumableSession> resumable;
        if (capture.resumed()) resumable = storage::resumable_sessions(restart_db, node, boot_id);
        std::set<std::string> keep;
        uint64_t now = BootClock::now_boot_ns();
        for (auto& r : resumable) {
            keep.insert(r.record.id);
            tracker.resume(std::move(r.record), r.next_command_seq, r.next_chunk_seq, !clean_stop, now);
        }
        if (int n = storage::close_abandoned_sessions(restart_db, keep)) {
            log::warn("{} sessions were left open by a recorder whose kernel-side state is gone (a reboot, a stop without "
                      "pins, pins removed); marked interrupted", n);
            writer.submit(storage::WriteSealEnded{});  // their hash chains end where their records do
        }
        if (!keep.empty())
            log::info("{} open sessions continue from the previous recorder{}", keep.size(),
                      clean_stop ? "" : " (it did not stop cleanly: each shows a gap where nobody recorded)");
    }
    attribution.reload(reader, wall_clock_ns());
    boost::asio::steady_timer tick(io);
    // Installed before "ready": a SIGTERM from then on always means a clean, flushed stop.
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        log::info("signal {}: stopping, flushing every session", signo);
        tick.cancel();
        for (auto& server : servers) server->stop();
        if (audit_log) audit_log->stop();
        if (pod_watcher) pod_watcher->stop();
        capture.stop();  // drains what the kernel holds; detaches unless pinned
        if (capture.pinned()) tracker.suspend_all();  // the kernel goes on; the next recorder continues them
        else tracker.interrupt_all(wall_clock_ns());
        io.stop();
    });

    capture_ptr = &capture;
    seed_running_containers(capture, cgroups, roots);
    capture.start();
    // what began before the very first recorder: followed from now on, with a gap from its start
    if (size_t n = adopt_older_sessions(capture, tracker, cgroups, roots))
        log::warn("{} sessions began before the recorder: adopted, each with a gap from its start until now", n);
    if (audit_log) audit_log->start();
    log::info("recording on node {}: {} programs attached ({} continued from the previous recorder), pod cgroups {}, "
              "database {}{}", node, capture.programs_attached(), capture.programs_continued(), describe_roots(roots),
              options.db_path, capture.pinned() ? fmt::format(", kernel state pinned in {}/{}", options.bpf_pin_dir,
                                                                capture.pin_tag()) : std::string(", nothing pinned"));
    if (capture.tty_hook() == TtyHook::fexit)
        log::info("terminal I/O hooked at the tty layer (fexit on tty_write and tty_read): the node's other processes "
                  "pay nothing");
    else
        log::info("terminal I/O hooked at the syscall tracepoint (tp_btf/sys_exit): every read and write on the node "
                  "pays one compare{}", capture.tty_hook_fallback().empty() ? std::string(" (--tty-hook tracepoint)")
                                                                            : "; " + capture.tty_hook_fallback());
    log::info("execaudit record: ready");
    retention.start();

    unsigned ticks = 0;
    std::function<void()> schedule_tick = [&] {
        tick.expires_after(std::chrono::milliseconds(100));
        tick.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            if (++ticks % 100 == 0) clock.resync();  // follow NTP adjustments
            tracker.on_tick();
            // webhooks answer 503 (the API server retries) and the log tail waits while nothing can be stored
            attribution.intake().store_failing = writer.stats().failing;
            if (ticks % 10 == 0) attribution.tick();
            schedule_tick();
        });
    };
    schedule_tick();


    io.run();
    retention.stop();  // between two of its transactions; an unfinished deletion is finished by the next recorder
    if (!writer.stop()) {
        log::error("stopping without the database writer: the disk does not return from a write");
        _exit(1);  // its thread still holds the connection: nothing here can be torn down safely
    }
    if (capture.pinned()) {
        // everything is stored: the next recorder continues without a gap
        try {
            auto db_after = storage::Database::open(options.db_path, storage::Database::Mode::read_write);
            storage::set_recorder_state(db_after, storage::kCleanStopKey, boot_id);
        } catch (const std::exception& e) {
            log::warn("cannot note the clean stop in the database ({}): the next recorder shows a gap in each open "
                      "session", e.what());
        }
    }
    for (auto& e : exporters) e->stop(std::chrono::seconds(5));  // deliver what was just flushed, if it can
    if (uploader) uploader->stop(std::chrono::seconds(5));  // what is left is sent by the next start

    auto drops = capture.drops();
    const auto& st = tracker.stats();
    auto ws = writer.stats();
    log::info("stopped: {} sessions ({} ended), {} commands, {} bytes out, {} bytes in; kernel dropped {} records "
              "({} terminal bytes); {} malformed records; {} database transactions",
              st.sessions_started, st.sessions_ended, st.commands, st.output_bytes, st.input_bytes, drops.events,
              drops.bytes, malformed, ws.transactions);
    const auto& as = attribution.stats();
    log::info("attribution: {} audit stages, {} admission reviews; {} sessions attributed, {} ambiguous, {} unattributed; "
              "{} requests unrecorded, {} denied",
              as.stages, as.admission_reviews, as.attributed, as.ambiguous, as.unattributed, as.unrecorded, as.denied);
    return 0;
}

}  // namespace execaudit::recorder
