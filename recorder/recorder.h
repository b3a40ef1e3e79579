#pragma once
// `execaudit record`: the node agent. Loads the BPF programs, turns their events into sessions
// and stores them, until SIGTERM/SIGINT; then flushes everything and returns 0.

#include "export/export_settings.h"

#include <cstddef>
#include <string>
#include <vector>

namespace execaudit::recorder {

struct RecordOptions {
    std::string db_path;
    std::vector<std::string> cgroup_roots;  ///< empty: detect the kubelet's
    std::string node_name;                  ///< empty: hostname
    std::string pods_log_dir = "/var/log/pods";
    std::string containers_log_dir = "/var/log/containers";
    size_t ring_buffer_mb = 16;
    bool keep_echo_off_input = false;  ///< store password-prompt input instead of its length
    /// bpffs directory where the kernel-side state outlives the recorder; empty: not pinned
    /// (a stop detaches the programs and interrupts every open session).
    std::string bpf_pin_dir = "/sys/fs/bpf/execaudit";
    std::string tty_hook = "auto";  ///< auto | fexit | tracepoint (recorder/capture/capture.h TtyHook)
    size_t store_queue_mb = 32;  ///< records waiting for the database at most; beyond, while it cannot be written: dropped and counted
    uint64_t max_session_output_mb = 0;
    std::string signing_key;  ///< Ed25519 private key (PEM) that signs every session head; empty: unsigned  ///< terminal output stored per session at most; beyond: counted as lost. 0: no cap
    // Retention (storage/retention.h).
    uint32_t retention_days = 0;                     ///< 0: no age limit
    std::vector<std::string> retention_namespaces;   ///< GLOB=DAYS | GLOB=forever
    std::string max_db_size = "25%";                 ///< bytes, 10G, 25% of the file system, 0: none
    std::string min_free_space = "5%";               ///< the same
    double retention_interval_s = 60;

    // Who ran it: the API server's audit backends and an admission webhook.
    std::string audit_webhook;      ///< ADDR:PORT for the audit webhook backend; empty: off
    std::string admission_webhook;  ///< ADDR:PORT for the ValidatingWebhookConfiguration; empty: off
    std::string tls_cert, tls_key;  ///< HTTPS for both (required unless insecure_http)
    std::string client_ca;          ///< require client certificates signed by this CA
    std::vector<std::string> client_subjects;  ///< ... and carrying one of these names (CN or SAN)
    bool insecure_http = false;                ///< plain HTTP webhooks, on loopback only...
    bool insecure_http_any_address = false;    ///< ... unless this
    bool admission_unverified = false;         ///< the admission webhook over TLS without client certificates
    std::string audit_log;          ///< the log backend's file to follow; empty: off
    double audit_skew_s = 2;        ///< API server vs node clock tolerance
    double audit_grace_s = 60;      ///< how long a session waits for its request
    size_t webhook_body_limit_mb = 32;
    std::string metrics;  ///< ADDR:PORT for /metrics (Prometheus) and /healthz; empty: off

    // Pods from the API server (recorder/pods/pod_watcher.h): in-cluster when in a pod, else a kubeconfig.
    std::string kubeconfig;         ///< empty: the in-cluster configuration, if any
    std::string kube_context;       ///< a kubeconfig context other than its current-context
    bool no_kube_api = false;       ///< never ask the API server (pods known from the node only)
    std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    unsigned kube_watch_timeout_s = 300;  ///< watch timeoutSeconds from [this, 2x this)
    size_t kube_max_object_mb = 4;        ///< a watch event (one pod) at most
    size_t kube_max_cache_mb = 32;        ///< the pods kept from the API server (newest versions) at most
    std::string cluster_name;       ///< carried on every record (--cluster-name)
    exporting::ExportSettings exports;  ///< --export-jsonl / --export-syslog

    // Cluster mode: upload everything stored to `execaudit collect` (the SQLite stays the spool).
    std::string collector;       ///< https://HOST:PORT; empty: single node (nothing is uploaded)
    std::string collector_ca;    ///< CA that signs the collector's certificate (default: the system's)
    std::string collector_cert;  ///< this node's client certificate (CN = the node's name)
    std::string collector_key;   ///< its key (default: in the certificate file)
};

/// Runs until a signal. Throws UsageError / RuntimeError for start-up failures.
int run_record(const RecordOptions& options);

struct DetachOptions {
    std::string bpf_pin_dir = "/sys/fs/bpf/execaudit";
    std::string db_path;  ///< empty: no database is touched
};
/// `execaudit detach`: removes the pins (and with them the programs) and closes the sessions
/// left open in the database as interrupted.
int run_detach(const DetachOptions& options);

}  // namespace execaudit::recorder
