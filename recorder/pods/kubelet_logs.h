#pragma once
// The kubelet names log files after the pod and container; those names are how a node knows a
// container's namespace, pod and container name without asking the API server.
//
//   /var/log/pods/<namespace>_<pod>_<pod UID>/<container>/<restart>.log
//   /var/log/containers/<pod>_<namespace>_<container>-<container ID>.log  (symlink to the above)
//
// Kubernetes names cannot contain '_', so the fields split unambiguously. Pure functions.

#include <optional>
#include <string>
#include <string_view>

namespace execaudit::recorder {

struct PodLogDir {
    std::string namespace_name;
    std::string pod;
    std::string pod_uid;
};

struct ContainerLogName {
    std::string pod;
    std::string namespace_name;
    std::string container;
    std::string container_id;
};

/// "<namespace>_<pod>_<uid>"
std::optional<PodLogDir> parse_pod_log_dir(std::string_view name);

/// "<pod>_<namespace>_<container>-<id>.log"
std::optional<ContainerLogName> parse_container_log_name(std::string_view name);

/// A DNS-1123 label (namespace, container name): [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63.
bool is_dns_label(std::string_view s);
/// A DNS-1123 subdomain (pod name): labels joined by '.', at most 253.
bool is_dns_subdomain(std::string_view s);

}  // namespace execaudit::recorder
