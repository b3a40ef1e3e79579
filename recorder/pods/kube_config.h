#pragma once
// Where the Kubernetes API server is and how to prove who we are to it, as client-go finds it:
// in a pod, the in-cluster configuration (KUBERNETES_SERVICE_HOST/_PORT, the service account's
// mounted token and CA); elsewhere, a kubeconfig file (`record --kubeconfig FILE`): its current
// context's cluster (server, certificate-authority or -data) and user (token or tokenFile, client
// certificate and key or their -data). Read at start-up: errors are UsageErrors naming the field.
//
// The token is a file the kubelet rotates (bound service-account tokens live an hour): it is read
// again for every connection and after every 401, never kept from start-up (token()).

#include "net/tls_context.h"

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

namespace execaudit::recorder {

struct KubeConfig {
    std::string source;  ///< "in-cluster" or the kubeconfig's path, for messages
    std::string host;    ///< DNS name or IP address (no brackets)
    std::string port = "443";
    std::string base_path;  ///< a server URL's path ("https://host/prefix"), without the final '/'
    net::TlsOptions tls;    ///< CA (file or PEM) and client certificate (file or PEM)
    std::string tls_server_name;  ///< expected certificate name when it is not `host` (tls-server-name)
    std::string token;            ///< a fixed bearer token (kubeconfig `token`)
    std::string token_file;       ///< a bearer token read anew for each connection (in-cluster, `tokenFile`)

    /// The bearer token to send now ("" for none); an unreadable or empty token file is an error.
    std::optional<std::string> read_token(std::string& error) const;
    /// "https://host:port" for messages.
    std::string server() const;
};

/// Where the in-cluster configuration lives (tests point it at a directory of their own).
struct InClusterPaths {
    std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    std::function<const char*(const char*)> getenv = [](const char* name) { return ::getenv(name); };
};

/// The in-cluster configuration, or nullopt when KUBERNETES_SERVICE_HOST is not set (not in a pod).
/// Throws UsageError when it is set but incomplete (no port, no token file, no CA).
std::optional<KubeConfig> in_cluster_config(const InClusterPaths& paths = {});

/// A kubeconfig file's current context (or `context` when given). Throws UsageError.
KubeConfig load_kubeconfig(const std::string& path, const std::string& context = "");

}  // namespace execaudit::recorder
