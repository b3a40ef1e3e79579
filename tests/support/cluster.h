#pragma once
// Cluster mode for tests: a throwaway PKI with the collector's two trust lists (the nodes' CA and
// the API server's), and `execaudit collect` as a real process against a private PostgreSQL.

#include "tests/support/process.h"

#include <memory>
#include <string>
#include <vector>

namespace execaudit::testing {

/// In `dir`: a CA that signs the collector's server certificate (127.0.0.1, localhost) and the
/// API server's client certificate (CN kube-apiserver); a node CA that signs node certificates
/// (CN = the node's name). issue_node() makes more, also with odd subjects.
struct ClusterPki {
    explicit ClusterPki(std::string dir);
    /// A client certificate signed by the node CA with subject `subject` ("/CN=node-a"); returns
    /// the certificate's path, the key is beside it (.key).
    std::string issue_node(const std::string& subject, const std::string& file_name);
    static std::string key_of(const std::string& cert) { return cert.substr(0, cert.size() - 4) + ".key"; }

    std::string dir;
    std::string ca, ca_key, server_cert, server_key, apiserver_cert, apiserver_key;
    std::string node_ca, node_ca_key;
};

/// `execaudit collect` on loopback ports of its own, waited for until ready.
class Collector {
public:
    /// `port` 0: any free one (a restarted collector that nodes must find again needs a fixed one).
    Collector(const std::string& db_uri, const ClusterPki& pki, const std::string& log_path,
              std::vector<std::string> extra_args = {}, uint16_t port = 0);
    ~Collector();
    uint16_t upload_port() const { return upload_port_; }
    uint16_t metrics_port() const { return metrics_port_; }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(upload_port_); }
    pid_t pid() const { return process_->pid(); }
    /// SIGTERM; the exit status.
    int stop();
    void kill();
    std::string log() const;
    /// GET /metrics: the value of `name` (with its label set, e.g. `x{reason="y"}`), -1 when absent.
    double metric(const std::string& name) const;

private:
    std::string log_path_;
    std::unique_ptr<Process> process_;
    uint16_t upload_port_ = 0, metrics_port_ = 0;
};

/// A loopback port nobody listens on now.
uint16_t free_loopback_port();

/// curl's TLS arguments for a client certificate against the collector.
std::vector<std::string> curl_tls(const ClusterPki& pki, const std::string& cert);

}  // namespace execaudit::testing
