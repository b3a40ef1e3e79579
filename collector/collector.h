#pragma once
// `execaudit collect`: the cluster's central service (a Deployment of stateless replicas in front
// of PostgreSQL). It receives every node's uploads over mutual TLS (collector/upload_service.h)
// and stores them in the cluster store, creating or migrating its schema at start.
//
// Threads: the main thread runs the io_context (signals, start-up retries); each HTTP listener
// has its own thread; the upload workers have theirs, each with its own database connection.

#include <cstddef>
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
};

/// Runs until SIGTERM/SIGINT. Throws UsageError / RuntimeError for start-up failures.
int run_collect(const CollectOptions& options);

}  // namespace execaudit::collector
