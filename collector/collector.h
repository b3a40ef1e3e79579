#pragma once
// `execaudit collect`: the cluster's central service (a Deployment of stateless replicas in front
// of PostgreSQL). Any replica receives every node's uploads over mutual TLS
// (collector/upload_service.h) and the API server's audit and admission webhooks
// (collector/webhook_intake.h), and stores them in the cluster store, creating or migrating its
// schema at start; exactly one replica at a time correlates them (collector/leader.h).
//
// Threads: the main thread runs the io_context (signals, start-up retries); each HTTP listener
// has its own thread; the upload workers theirs, each with its own database connection; the
// webhook intake and the leader one each.

#include "export/export_settings.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace execaudit::collector {

struct CollectOptions {
    std::string db;      ///< postgresql://... (the collector's writing role)
    std::string listen;  ///< ADDR:PORT for node uploads
    std::string tls_cert, tls_key;  ///< the collector's certificate, for every listener
    std::string node_ca;            ///< node certificates must chain to this CA...
    std::vector<std::string> node_subjects;  ///< ...and carry one of these names (empty: any the CA signed)
    std::string metrics;            ///< ADDR:PORT for /metrics, /healthz, /readyz (plain HTTP); empty: off
    size_t upload_workers = 4;
    size_t upload_body_limit_mb = 16;

    // The API server's webhooks: a trust list of their own (--client-ca), never the nodes'.
    std::string audit_webhook;      ///< ADDR:PORT for the audit webhook backend; empty: off
    std::string admission_webhook;  ///< ADDR:PORT for the validating admission webhook; empty: off
    std::string client_ca;
    std::vector<std::string> client_subjects;
    bool admission_unverified = false;  ///< managed clusters: the admission webhook without client certificates
    size_t webhook_body_limit_mb = 32;
    double audit_skew_s = 2;
    double audit_grace_s = 60;
    exporting::ExportSettings exports;  ///< the SIEM export (--export-*), from the leading replica
    std::string cluster_name;  ///< stored with every uploaded session instead of the node's; empty: the node's

    // Retention of the cluster store (docs/retention.md, "For the collector"), run by the leader alone.
    uint32_t retention_days = 0;                    ///< 0: no age limit
    std::vector<std::string> retention_namespaces;  ///< GLOB=DAYS | GLOB=forever
    double retention_interval_s = 60;
    std::string signing_key;   ///< Ed25519 private key (PEM) that countersigns every sealed session; empty: unsigned
    std::string max_db_size = "0";                  ///< bytes ("50G"); 0: no bound. A share ("25%") is refused
};

/// Runs until SIGTERM/SIGINT. Throws UsageError / RuntimeError for start-up failures.
int run_collect(const CollectOptions& options);

}  // namespace execaudit::collector
