// `execaudit record` and `execaudit trace`: the kernel side's two front doors.
#include "cli/command.h"
#include "cli/config_file.h"
#include "recorder/recorder.h"
#include "recorder/capture/trace.h"
#include "storage/retention.h"

namespace execaudit::cli {
namespace {

/// A CLI11 check that runs one of retention's parsers, so a bad rule fails where it is written
/// (the command line, or the config file's line).
template <typename Parse>
CLI::Validator parsed_by(Parse parse) {
    return CLI::Validator(
        [parse](std::string& value) {
            try {
                parse(value);
                return std::string();
            } catch (const std::exception& e) {
                return std::string(e.what());
            }
        },
        "");
}

}  // namespace

void add_record_command(CLI::App& app, Commands& commands) {
    auto options = std::make_shared<recorder::RecordOptions>();
    options->db_path = default_db();
    auto* rec = app.add_subcommand("record", "The node agent: loads the BPF programs and records every exec session into "
                                             "the pod containers until SIGTERM/SIGINT, then flushes and exits 0");
    add_db_option(rec, options->db_path);
    rec->add_option("--cgroup-root", options->cgroup_roots,
                    "Pod cgroup root to watch, relative to the cgroup2 mount (/kubepods) or absolute; repeatable. "
                    "Default: the kubelet's (/kubepods.slice, /kubepods)")
        ->type_name("PATH");
    rec->add_option("--node-name", options->node_name, "Node name stored with each session (default: hostname)");
    rec->add_option("--pods-log-dir", options->pods_log_dir, "The kubelet's pod log directory")->capture_default_str();
    rec->add_option("--containers-log-dir", options->containers_log_dir, "The kubelet's container log symlinks")
        ->capture_default_str();
    rec->add_option("--ring-buffer-mb", options->ring_buffer_mb,
                    "Kernel ring buffer size in MiB (rounded up to a power of two)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    rec->add_flag("--keep-echo-off-input", options->keep_echo_off_input,
                  "WARNING: stores what is typed at a password prompt (input read with ECHO off in canonical mode) "
                  "in clear. By default only its length is kept; readline, vim and less input is kept either way");
    rec->add_option("--tty-hook", options->tty_hook,
                    "Where terminal I/O is hooked. fexit: on the kernel's tty layer (BPF trampolines; only terminal "
                    "I/O pays, the node's other processes nothing). tracepoint: at every syscall's exit (every read "
                    "and write on the node pays one compare). auto: fexit where the kernel allows it, else the "
                    "tracepoint; the start-up line and /metrics (execaudit_capture_tty_hook) say which runs and why")
        ->type_name("auto|fexit|tracepoint")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "fexit", "tracepoint"}));
    rec->add_option("--bpf-pin-dir", options->bpf_pin_dir,
                    "bpffs directory where the kernel-side state (maps, attached programs) outlives the recorder: a "
                    "restart or an upgrade continues the open sessions. `execaudit detach` removes it")
        ->type_name("DIR")
        ->capture_default_str();
    rec->add_flag_function(
        "--no-bpf-pin", [options](int64_t) { options->bpf_pin_dir.clear(); },
        "Pin nothing: a stop detaches the programs and ends the recording of every open session (interrupted)");
    rec->add_option("--max-session-output-mb", options->max_session_output_mb,
                    "Store at most this many MiB of one session's terminal output; what it writes beyond is counted as "
                    "lost (lost_bytes, a gap in play), never stored. 0: no cap")
        ->capture_default_str()
        ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 30));
    rec->add_option("--store-queue-mb", options->store_queue_mb,
                    "MiB of records that wait for the database at most; while it cannot be written (full or read-only "
                    "disk), terminal data and commands beyond are dropped, counted per session and stored as gaps later")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    rec->add_option("--signing-key", options->signing_key,
                    "Sign every session's chain head with this Ed25519 private key (PEM; `openssl genpkey -algorithm "
                    "ed25519`), so `verify --public-key` detects a re-signed or rewritten session")
        ->type_name("FILE");
    rec->add_option("--retention-days", options->retention_days,
                    "Delete a session this many days after it ended (unless held, or not yet confirmed by every "
                    "--export-* destination). 0: no age limit")
        ->capture_default_str()
        ->check(CLI::Range(0, 36500));
    rec->add_option("--retention-namespace", options->retention_namespaces,
                    "GLOB=DAYS or GLOB=forever: the rule for namespaces matching GLOB (fnmatch), instead of "
                    "--retention-days; repeatable. The most specific wins: an exact name, then the glob with the most "
                    "literal characters. In --config: `retention-namespace: {prod-*: 400, kube-system: forever}`")
        ->type_name("GLOB=DAYS")
        ->check(parsed_by([](const std::string& v) { storage::parse_namespace_rule(v); }));
    rec->add_option("--max-db-size", options->max_db_size,
                    "Keep the database under this size: past it, ended sessions are deleted oldest first, whatever their "
                    "rule (never open or held ones), and each such deletion is counted and listed by `report`. "
                    "BYTES, with K/M/G/T (powers of 1024), or a share of the database's file system (25%); 0: no cap")
        ->type_name("BYTES")
        ->capture_default_str()
        ->check(parsed_by([](const std::string& v) { storage::parse_size_bound(v, "max-db-size"); }));
    rec->add_option("--min-free-space", options->min_free_space,
                    "Keep this much free on the database's file system, the same way (BYTES, 2G, 5%; 0: no floor)")
        ->type_name("BYTES")
        ->capture_default_str()
        ->check(parsed_by([](const std::string& v) { storage::parse_size_bound(v, "min-free-space"); }));
    rec->add_option("--retention-interval", options->retention_interval_s, "Seconds between two retention passes")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 86400.0));
    rec->add_option("--audit-webhook", options->audit_webhook,
                    "Serve the API server's audit webhook backend (EventList POSTs) on ADDR:PORT")
        ->type_name("ADDR:PORT");
    rec->add_option("--admission-webhook", options->admission_webhook,
                    "Serve a validating admission webhook for pods/exec and pods/attach on ADDR:PORT (managed "
                    "clusters without audit flags; it always allows)")
        ->type_name("ADDR:PORT");
    rec->add_option("--tls-cert", options->tls_cert, "Certificate (PEM) for both webhooks (HTTPS is required)")
        ->type_name("FILE");
    rec->add_option("--tls-key", options->tls_key, "Private key (PEM) for --tls-cert")->type_name("FILE");
    rec->add_option("--client-ca", options->client_ca,
                    "Webhook clients must present a certificate signed by this CA (PEM): the API server's client "
                    "certificate (deploy/audit-webhook.kubeconfig, deploy/admission-config.yaml)")
        ->type_name("FILE");
    rec->add_option("--client-subject", options->client_subjects,
                    "...and carrying this name: its subject CN, a DNS/URI/email/IP SAN, or the whole subject "
                    "(CN=...,O=...); repeatable. Without it any certificate the CA signed may post")
        ->type_name("NAME");
    rec->add_flag("--insecure-http", options->insecure_http,
                  "Serve the webhooks over plain HTTP, on a loopback address only: anyone who reaches them can post "
                  "identities (tests, a sidecar)");
    rec->add_flag("--insecure-http-any-address", options->insecure_http_any_address,
                  "With --insecure-http: allow an address other hosts can reach");
    rec->add_flag("--admission-unverified", options->admission_unverified,
                  "Managed clusters: serve the admission webhook over TLS without client certificates (their API server "
                  "presents none). Identities from it are stored as unverified and never override an audit event");
    rec->add_option("--audit-log", options->audit_log,
                    "Follow the API server's audit log file (--audit-log-path; rotation is followed)")
        ->type_name("PATH");
    rec->add_option("--audit-skew", options->audit_skew_s, "Clock difference tolerated between API server and node, seconds")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    rec->add_option("--audit-grace", options->audit_grace_s,
                    "Seconds a session waits for its API request before it is reported unattributed")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    rec->add_option("--webhook-body-limit-mb", options->webhook_body_limit_mb, "Larger webhook bodies get 413")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    rec->add_option("--metrics", options->metrics, "Serve Prometheus /metrics, /healthz (alive) and /readyz (BPF attached, database writable) on ADDR:PORT "
                    "(plain HTTP)")
        ->type_name("ADDR:PORT");
    rec->add_option("--kubeconfig", options->kubeconfig,
                    "Know the node's pods (labels, owner, workload, the kubelet's exec probes and hooks) from the API "
                    "server this kubeconfig names: its current context's server, certificate-authority(-data) and "
                    "user (token, tokenFile, or client-certificate/-key(-data)). Default: the in-cluster configuration "
                    "when it runs in a pod (KUBERNETES_SERVICE_HOST, the mounted service-account token and CA)")
        ->type_name("FILE");
    rec->add_option("--kube-context", options->kube_context, "With --kubeconfig: this context instead of its current-context")
        ->type_name("NAME");
    rec->add_flag("--no-kube-api", options->no_kube_api,
                  "Never ask the API server, even in a pod: pods are known from the node only (no labels or workload; "
                  "probe-like sessions stay findings marked \"pod spec unknown\")");
    rec->add_option("--service-account-dir", options->service_account_dir,
                    "Where the in-cluster service-account token (token, read again as the kubelet rotates it) and CA "
                    "(ca.crt) are mounted")
        ->type_name("DIR")
        ->capture_default_str();
    rec->add_option("--kube-watch-timeout", options->kube_watch_timeout_s,
                    "Seconds a pod watch lasts before it is renewed (timeoutSeconds, drawn from [N, 2N) as client-go "
                    "does); a stream quiet for longer is dropped and resumed")
        ->capture_default_str()
        ->check(CLI::Range(1, 86400));
    rec->add_option("--kube-max-object-mb", options->kube_max_object_mb,
                    "A pod object (one watch line) larger than this is skipped and counted; list pages are bounded at "
                    "16 times this")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    rec->add_option("--kube-max-cache-mb", options->kube_max_cache_mb,
                    "The pods kept from the API server (the newest version of each, as parsed) at most: whoever may "
                    "create pods bound to this node chooses how many and how large. A pod past it is refused and "
                    "counted, and its execs are findings (pod spec unknown). The history besides (up to two older "
                    "versions of a pod, deleted pods kept ten minutes for a late preStop hook) is bounded at as "
                    "much again: the oldest go first, counted in /metrics")
        ->capture_default_str()
        ->check(CLI::Range(1, 65536));
    add_cluster_name_option(rec, options->cluster_name,
                            "Name of this cluster, stored with every session and carried on every record (sessions, show, "
                            "export, syslog, ECS: for a SIEM fed by several clusters); in cluster mode the collector's "
                            "--cluster-name, when it has one, is the one it stores");
    auto& ex = options->exports;
    rec->add_option("--export-jsonl", ex.jsonl_path,
                    "Append every session start, command, attribution and session end to this file as JSON lines, "
                    "for a log shipper to tail (docs/export.md)")
        ->type_name("PATH");
    rec->add_option("--export-jsonl-max-bytes", ex.jsonl_max_bytes, "Rotate the JSON lines file at this size (PATH.1, PATH.2, ...)")
        ->capture_default_str()
        ->check(CLI::Range(uint64_t{4096}, uint64_t{1} << 40));
    rec->add_option("--export-jsonl-keep", ex.jsonl_keep, "Rotated JSON lines files to keep (a shipper reads the newest "
                                                          "rotated file to its end before it is shifted away)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    rec->add_option("--export-syslog", ex.syslog_url,
                    "Send the same records as RFC 5424 syslog, octet-counted, to tcp://HOST:PORT or tls://HOST:PORT")
        ->type_name("URL");
    rec->add_option("--export-syslog-ca", ex.syslog_ca, "CA certificates (PEM) that sign the syslog server's certificate "
                                                        "(default: the system's)")
        ->type_name("FILE");
    rec->add_option("--export-syslog-cert", ex.syslog_cert, "Client certificate (PEM) to present to the syslog server")
        ->type_name("FILE");
    rec->add_option("--export-syslog-key", ex.syslog_key, "Its private key (PEM; default: in the certificate file)")
        ->type_name("FILE");
    rec->add_option("--export-syslog-settle-ms", ex.syslog_settle_ms,
                    "A syslog batch counts as delivered this long after the server acknowledged it; what is not yet "
                    "delivered is sent again after a reconnect or a restart")
        ->capture_default_str()
        ->check(CLI::Range(0, 600000));
    rec->add_flag("--ecs", ex.ecs, "Export Elastic Common Schema fields (process.args, user.name, orchestrator.namespace, "
                                   "...) instead of execaudit.proto's");
    rec->add_option("--collector", options->collector,
                    "Cluster mode: also upload everything recorded to `execaudit collect` at https://HOST:PORT (mutual "
                    "TLS). The database stays the durable spool: what the collector has not acknowledged is sent again "
                    "after any outage or restart")
        ->type_name("URL");
    rec->add_option("--collector-ca", options->collector_ca,
                    "CA certificates (PEM) that sign the collector's certificate (default: the system's)")
        ->type_name("FILE");
    rec->add_option("--collector-cert", options->collector_cert,
                    "This node's client certificate (PEM) for the collector; its CN must be the node's name "
                    "(--node-name): the collector stores what a node uploads under the name its certificate proves")
        ->type_name("FILE");
    rec->add_option("--collector-key", options->collector_key, "Its private key (PEM; default: in the certificate file)")
        ->type_name("FILE");
    add_config_options(rec);
    rec->footer("Needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN), Linux 5.17+ with BTF, cgroup v2 mounted.\n"
                "Logs go to stderr; `execaudit record: ready` marks the start of recording.\n"
                "Export is at least once: each destination's position is kept in the database, so a restart or an\n"
                "outage loses nothing; records sent twice carry the same record_id. Example:\n"
                "  execaudit record --export-syslog tls://siem.example:6514 --export-syslog-ca /etc/execaudit/ca.pem\n"
                "  execaudit record --export-jsonl /var/log/execaudit/records.jsonl --ecs\n"
                "Cluster mode (docs/cluster.md): the node keeps recording into its database and uploads it:\n"
                "  execaudit record --node-name worker-1 --collector https://execaudit-collector.execaudit.svc:7443 \\\n"
                "      --collector-ca /etc/execaudit/collector-ca/ca.crt --collector-cert /etc/execaudit/pki/node.crt \\\n"
                "      --collector-key /etc/execaudit/pki/node.key\n"
                "Retention (docs/retention.md): a session goes once it has ended, its rule has passed, every export\n"
                "destination confirmed it and it is not held (`execaudit hold`); the size bounds delete oldest first.\n"
                "Each deletion leaves a tombstone (what, when, which rule) that `verify` and `report` show:\n"
                "  execaudit record --retention-days 90 --retention-namespace 'prod-*=400' --max-db-size 20G");
    commands.push_back({rec, [options] { return recorder::run_record(*options); }});
}

void add_detach_command(CLI::App& app, Commands& commands) {
    auto options = std::make_shared<recorder::DetachOptions>();
    auto* de = app.add_subcommand("detach", "Uninstall on a node: remove the pinned BPF state (and with it execaudit's "
                                            "programs) that `record` leaves attached between recorders");
    de->add_option("--bpf-pin-dir", options->bpf_pin_dir, "The recorder's --bpf-pin-dir")
        ->type_name("DIR")
        ->capture_default_str();
    de->add_option("--db", options->db_path,
                   "Also mark the sessions left open in this database interrupted (default: no database is touched)")
        ->type_name("PATH");
    de->footer("Refuses while a recorder holds the pin directory. Example:\n"
               "  execaudit detach --bpf-pin-dir /sys/fs/bpf/execaudit --db /var/lib/execaudit/sessions.db");
    commands.push_back({de, [options] { return recorder::run_detach(*options); }});
}

void add_trace_command(CLI::App& app, Commands& commands) {
    auto options = std::make_shared<recorder::TraceOptions>();
    auto* tr = app.add_subcommand("trace", "Debugging: print the raw kernel events as JSON lines until interrupted (stores nothing)");
    tr->add_option("--cgroup-root", options->cgroup_roots, "As for record; repeatable")->type_name("PATH");
    tr->add_option("--ring-buffer-mb", options->ring_buffer_mb, "Kernel ring buffer size in MiB")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    commands.push_back({tr, [options] { return recorder::run_trace(*options); }});
}

}  // namespace execaudit::cli
