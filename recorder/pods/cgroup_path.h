#pragma once
// Parses a container's cgroup path into the pod UID and container ID the kubelet gave it.
//
//   cgroupfs driver:  /kubepods/besteffort/pod<UID>/<ID>             (containerd, docker)
//                     /kubepods/pod<UID>/crio-<ID>                   (CRI-O; guaranteed pods have no QoS level)
//   systemd driver:   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<UID_>.slice/
//                         cri-containerd-<ID>.scope | crio-<ID>.scope | docker-<ID>.scope
//
// Anything may come before the kubepods part (kubelet --cgroup-root) and below the container
// (a workload's own sub-cgroups). Pure function: no filesystem access.

#include <optional>
#include <string>
#include <string_view>

namespace execaudit::recorder {

struct ContainerCgroup {
    std::string pod_uid;       ///< with dashes, as in the Pod object
    std::string container_id;  ///< the runtime's id (64 hex characters for containerd, CRI-O, docker)
    std::string runtime;       ///< "containerd", "crio", "docker", or "" when the layout does not say
    std::string qos;           ///< "besteffort", "burstable", or "guaranteed"
    std::string container_path;  ///< the path down to the container's own cgroup
};

/// nullopt when the path is not below a pod (the pod cgroup itself, a QoS slice, conmon, ...).
std::optional<ContainerCgroup> parse_container_cgroup(std::string_view path);

}  // namespace execaudit::recorder
