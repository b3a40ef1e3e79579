// `execaudit collect`: the cluster's central service.
#include "cli/command.h"
#include "cli/config_file.h"
#include "collector/collector.h"
#include "common/text.h"
#include "storage/retention_policy.h"

#include <cstdlib>

namespace execaudit::cli {

void add_collect_command(CLI::App& app, Commands& commands) {
    auto options = std::make_shared<collector::CollectOptions>();
    if (const char* env = std::getenv("EXECAUDIT_DB")) options->db = env;
    auto* co = app.add_subcommand("collect", "Cluster mode: the central service (a Deployment of 2+ replicas) that receives "
                                             "every node's uploads over mutual TLS and stores them in PostgreSQL; runs until "
                                             "SIGTERM");
    co->add_option("--db", options->db,
                   "The cluster store: a libpq URI with the collector's (writing) role, postgresql://USER@HOST:PORT/DB "
                   "(default: $EXECAUDIT_DB). The schema is created or migrated at start")
        ->type_name("URI");
    co->add_option("--listen", options->listen, "Receive node uploads (POST /v1/upload) on ADDR:PORT, HTTPS with client "
                                                "certificates of --node-ca")
        ->type_name("ADDR:PORT");
    co->add_option("--tls-cert", options->tls_cert, "The collector's certificate (PEM), for every listener; nodes check it against their collector CA")
        ->type_name("FILE");
    co->add_option("--tls-key", options->tls_key, "Its private key (PEM)")->type_name("FILE");
    co->add_option("--node-ca", options->node_ca,
                   "Node uploads must present a certificate signed by this CA (PEM); the node's name is its certificate's "
                   "CN, and a node can upload only its own sessions. Keep it apart from the API server's CA")
        ->type_name("FILE");
    co->add_option("--node-subject", options->node_subjects,
                   "...and carrying this name (CN or SAN); repeatable. Without it any certificate --node-ca signed may upload")
        ->type_name("NAME");
    co->add_option("--metrics", options->metrics, "Serve Prometheus /metrics, /healthz and /readyz (PostgreSQL answers) on "
                                                  "ADDR:PORT (plain HTTP)")
        ->type_name("ADDR:PORT");
    co->add_option("--upload-workers", options->upload_workers, "Batches stored at once (each with its own database connection)")
        ->capture_default_str()
        ->check(CLI::Range(1, 64));
    co->add_option("--upload-body-limit-mb", options->upload_body_limit_mb, "Larger upload batches get 413")
        ->capture_default_str()
        ->check(CLI::Range(1, 256));
    co->add_option("--audit-webhook", options->audit_webhook,
                   "Serve the API server's audit webhook backend (EventList POSTs) on ADDR:PORT; any replica stores, one "
                   "correlates")
        ->type_name("ADDR:PORT");
    co->add_option("--admission-webhook", options->admission_webhook,
                   "Serve a validating admission webhook for pods/exec and pods/attach on ADDR:PORT (it always allows)")
        ->type_name("ADDR:PORT");
    co->add_option("--client-ca", options->client_ca,
                   "Webhook clients must present a certificate signed by this CA (PEM): the API server's client certificate. "
                   "A trust list apart from --node-ca: a node's certificate can never post identities")
        ->type_name("FILE");
    co->add_option("--client-subject", options->client_subjects,
                   "...and carrying this name (CN or SAN); repeatable")
        ->type_name("NAME");
    co->add_flag("--admission-unverified", options->admission_unverified,
                 "Managed clusters: serve the admission webhook over TLS without client certificates; identities from it "
                 "are stored as unverified and never override an audit event");
    co->add_option("--webhook-body-limit-mb", options->webhook_body_limit_mb, "Larger webhook bodies get 413")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    co->add_option("--audit-skew", options->audit_skew_s, "Clock difference tolerated between API server and nodes, seconds")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    co->add_option("--audit-grace", options->audit_grace_s,
                   "Seconds a session waits for its API request before it is unattributed; an allowed request with no "
                   "session is unrecorded only once the node hosting its pod has uploaded past its window plus this")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    auto& ex = options->exports;
    co->add_option("--export-jsonl", ex.jsonl_path,
                   "The leading replica appends every session start, command, attribution and session end of the cluster "
                   "to this file as JSON lines (docs/export.md), from a cursor kept in the cluster store")
        ->type_name("PATH");
    co->add_option("--export-jsonl-max-bytes", ex.jsonl_max_bytes, "Rotate the JSON lines file at this size (PATH.1, PATH.2, ...)")
        ->capture_default_str()
        ->check(CLI::Range(uint64_t{4096}, uint64_t{1} << 40));
    co->add_option("--export-jsonl-keep", ex.jsonl_keep, "Rotated JSON lines files to keep")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    co->add_option("--export-syslog", ex.syslog_url,
                   "Send the same records as RFC 5424 syslog, octet-counted, to tcp://HOST:PORT or tls://HOST:PORT: each "
                   "record once per cluster (at least once; a resend carries the same record_id)")
        ->type_name("URL");
    co->add_option("--export-syslog-ca", ex.syslog_ca, "CA certificates (PEM) that sign the syslog server's certificate "
                                                       "(default: the system's)")
        ->type_name("FILE");
    co->add_option("--export-syslog-cert", ex.syslog_cert, "Client certificate (PEM) to present to the syslog server")
        ->type_name("FILE");
    co->add_option("--export-syslog-key", ex.syslog_key, "Its private key (PEM; default: in the certificate file)")
        ->type_name("FILE");
    co->add_option("--export-syslog-settle-ms", ex.syslog_settle_ms,
                   "A syslog batch counts as delivered this long after the server acknowledged it")
        ->capture_default_str()
        ->check(CLI::Range(0, 600000));
    co->add_flag("--ecs", ex.ecs, "Export Elastic Common Schema fields instead of execaudit.proto's");
    add_cluster_name_option(co, options->cluster_name,
                            "Name of this cluster, stored with every session the nodes upload (instead of the name a node "
                            "gives) and carried on every record (for a SIEM fed by several clusters)");
    co->add_option("--retention-days", options->retention_days,
                   "Delete a session from the cluster store this many days after it ended, unless it is held (`hold --db "
                   "postgresql://...`) or not yet exported by every --export-* destination. Run by the leading replica "
                   "alone; every deletion leaves a tombstone and a ledger entry that `verify` and `report` show. 0: no age limit")
        ->capture_default_str()
        ->check(CLI::Range(0, 36500));
    co->add_option("--retention-namespace", options->retention_namespaces,
                   "GLOB=DAYS or GLOB=forever: the rule for namespaces matching GLOB (fnmatch), instead of "
                   "--retention-days; repeatable. The most specific wins, as on the node (`record --retention-namespace`). "
                   "In --config: `retention-namespace: {prod-*: 400, kube-system: forever}`")
        ->type_name("GLOB=DAYS")
        ->check(CLI::Validator(
            [](std::string& v) {
                try {
                    storage::parse_namespace_rule(v);
                    return std::string();
                } catch (const std::exception& e) {
                    return std::string(e.what());
                }
            },
            ""));
    co->add_option("--max-db-size", options->max_db_size,
                   "Keep what the cluster store's sessions hold under this many bytes (512M, 50G, 1T: powers of 1024): "
                   "their terminal data as stored plus an estimate per command, summed from counters kept at ingest, not "
                   "the database's files (PostgreSQL reuses the space of deleted rows, it does not shrink them). Past it the "
                   "leader deletes ended sessions that are not held and were exported, oldest first, whatever their rule: "
                   "cause `size`, a finding in `report`. No share (25%) of a file system: the database may be remote. 0: no bound")
        ->type_name("BYTES")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& v) {
                bool share = false;
                try {
                    share = storage::parse_size_bound(v, "max-db-size").percent > 0;
                } catch (const std::exception&) {
                    return terminal_safe(v) + ": give bytes (1073741824) or with a suffix (512M, 200G, 1T; powers of 1024), "
                                              "or 0 for no bound";
                }
                if (share)
                    return terminal_safe(v) + ": a share of a file system means nothing for the cluster store (PostgreSQL "
                                              "may be remote or managed); give bytes, e.g. 200G, or 0 for no bound";
                return std::string();
            },
            ""));
    co->add_option("--retention-interval", options->retention_interval_s, "Seconds between two retention passes of the leader")
        ->capture_default_str()
        ->check(CLI::Range(0.01, 86400.0));
    co->add_option("--signing-key", options->signing_key,
                   "Countersign every session the collector seals with this Ed25519 private key (PEM; `openssl genpkey "
                   "-algorithm ed25519`): when a session's end arrives and its records verify against the node's own "
                   "chain, its head is sealed (never changed again, whatever the node sends) and signed, so `verify` given "
                   "this key's public half detects a session rewritten in the cluster store afterwards")
        ->type_name("FILE");
    add_config_options(co);
    co->footer("A node's upload is acknowledged (2xx) only after it is committed; a batch sent again changes nothing.\n"
               "PostgreSQL down: 503 with Retry-After, and the nodes keep their backlog. `execaudit collect: ready` on\n"
               "stderr marks the start. The password in --db never reaches a log. Example:\n"
               "  EXECAUDIT_DB=postgresql://collector@pg.example:5432/execaudit execaudit collect --listen 0.0.0.0:7443 \\\n"
               "      --tls-cert /etc/execaudit/tls/tls.crt --tls-key /etc/execaudit/tls/tls.key \\\n"
               "      --node-ca /etc/execaudit/node-ca/ca.crt --metrics 0.0.0.0:9090\n"
               "Retention (docs/retention.md): the leading replica deletes what every rule, hold and export allows:\n"
               "  execaudit collect ... --export-syslog tls://siem:6514 --retention-days 400 \\\n"
               "      --retention-namespace 'kube-system=forever' --max-db-size 200G");
    commands.push_back({co, [options] { return collector::run_collect(*options); }});
}

}  // namespace execaudit::cli
