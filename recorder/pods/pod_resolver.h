#pragma once
// cgroup -> pod namespace/name/UID and container name/ID, from what the node itself holds:
// the cgroup path (recorder/pods/cgroup_path.h) and the kubelet's log names (recorder/pods/kubelet_logs.h).

#include "recorder/pods/cgroup_fs.h"
#include "storage/records.h"

#include <cstdint>
#include <optional>
#include <string>

namespace execaudit::recorder {

struct PodIdentity {
    std::string cgroup_path;
    std::string namespace_name;
    std::string pod;
    std::string pod_uid;
    std::string container;
    std::string container_id;
    std::string runtime;
    /// What the API server says of the pod (recorder/pods/pod_metadata.h); nullopt: not known.
    std::optional<storage::PodMetadata> meta;
};

class PodResolver {
public:
    struct Options {
        std::string pods_log_dir = "/var/log/pods";
        std::string containers_log_dir = "/var/log/containers";
    };

    PodResolver(const CgroupFs& cgroups, Options options);

    /// Best effort: fields stay empty when the node does not know them (the reason is logged once
    /// per container).
    PodIdentity resolve(uint64_t cgroup_id) const;
    PodIdentity resolve_path(const std::string& cgroup_path) const;

private:
    const CgroupFs& cgroups_;
    Options options_;
};

}  // namespace execaudit::recorder
