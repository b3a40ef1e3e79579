#pragma once
// What the node agent keeps of a Pod object from the API server: who it is (namespace, name, UID),
// what it stands for (labels, controller owner, workload, service account) and, per container, the
// exec probes and exec lifecycle hooks the kubelet runs in it (their exact argv).
//
// Everything here comes from the API server's JSON, which a user with `create pods` wrote: every
// field is bounded and type-checked, and a pod that does not fit is refused whole.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::recorder {

/// An `exec` action the kubelet itself runs in a container.
struct KubeletExec {
    enum class Kind { probe, hook };
    Kind kind;
    std::string name;  // liveness, readiness, startup / postStart, preStop
    std::vector<std::string> argv;
    bool operator==(const KubeletExec&) const = default;
};

struct ContainerSpec {
    std::string name;
    std::vector<KubeletExec> execs;
    std::string container_id;  // status: the running container's ID, without "containerd://"
    bool operator==(const ContainerSpec&) const = default;
};

struct OwnerRef {
    std::string kind;
    std::string name;
    bool operator==(const OwnerRef&) const = default;
};

struct PodInfo {
    std::string namespace_name;
    std::string name;
    std::string uid;
    std::string node_name;
    std::string resource_version;
    std::string service_account;
    std::string mirror_of;  // a static pod's mirror: the config hash its cgroups carry as pod UID
    std::map<std::string, std::string> labels;
    std::optional<OwnerRef> owner;     // the ownerReference with controller: true
    std::optional<OwnerRef> workload;  // derived from owner as Tetragon does (see derive_workload)
    std::vector<ContainerSpec> containers;  // initContainers, containers, ephemeralContainers

    /// Everything kept here is equal but the resourceVersion: the API object changed in what the
    /// agent does not keep (most watch events are status updates: readiness, restarts' counts).
    bool same_but_version(const PodInfo& other) const;
    /// The heap it holds, near enough (strings, label nodes, containers, argv): what the pod cache's
    /// budget counts. A pod of many one-byte argv elements costs more here than its JSON.
    std::size_t footprint() const;

    /// The container of that name, or nullptr.
    const ContainerSpec* container(std::string_view name) const;
    /// The container whose status names that container ID, or nullptr.
    const ContainerSpec* container_by_id(std::string_view container_id) const;
};

struct PodLimits {
    std::size_t max_labels = 64;
    std::size_t max_string = 4096;  // a label value, a name, one argv element
    std::size_t max_argv = 256;     // elements of one exec action
    std::size_t max_containers = 64;
};

/// Parses one Pod object (JSON text). nullopt with `error` set when it is not a Pod or breaks a limit.
std::optional<PodInfo> parse_pod(std::string_view json, std::string& error, const PodLimits& limits = {});

/// The workload a pod stands for, as Tetragon (and Cilium before it) derive it: no ownerReferences →
/// the Pod itself; a controller ReplicaSet with the pod's `pod-template-hash` label → the Deployment
/// (the name without "-<hash>"); a controller Job named "<name>-<8 to 10 digits>" → the CronJob
/// <name>; any other controller (StatefulSet, DaemonSet, Job, ...) → itself. Owners but no
/// controller → nullopt.
std::optional<OwnerRef> derive_workload(const PodInfo& pod, bool has_owner_references);

}  // namespace execaudit::recorder
