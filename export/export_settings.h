#pragma once
// `record --export-jsonl / --export-syslog`: what the node agent exports, and where
// (docs/export.md). Each destination gets an Exporter of its own with its own cursor.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace execaudit::exporting {

class Exporter;

struct ExportSettings {
    std::string jsonl_path;                    ///< empty: no JSON lines file
    uint64_t jsonl_max_bytes = 100u << 20;     ///< rotate at this size
    unsigned jsonl_keep = 5;                   ///< rotated files kept
    std::string syslog_url;                    ///< empty: no syslog; tcp://HOST:PORT or tls://HOST:PORT
    std::string syslog_ca;                     ///< PEM CA bundle for tls:// (default: the system's)
    std::string syslog_cert;                   ///< client certificate for tls:// (optional)
    std::string syslog_key;                    ///< its key (default: in the certificate file)
    int syslog_settle_ms = 2000;               ///< how long after the peer's ACK a batch counts as delivered
    bool ecs = false;                          ///< Elastic Common Schema fields instead of execaudit.proto's
};

/// One Exporter per configured destination, not started. Throws UsageError for a bad URL or TLS
/// file (exit 2 before recording starts); an unreachable destination is not an error here.
std::vector<std::unique_ptr<Exporter>> make_exporters(const ExportSettings& settings, const std::string& db_path);
class ExportSource;
/// The same, each reading its own `make_source()` (the cluster's store) instead of a SQLite file.
std::vector<std::unique_ptr<Exporter>> make_exporters(const ExportSettings& settings,
                                                      const std::function<std::unique_ptr<ExportSource>()>& make_source);

}  // namespace execaudit::exporting
