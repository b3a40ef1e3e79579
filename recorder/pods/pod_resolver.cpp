#include "recorder/pods/pod_resolver.h"

#include "common/log.h"
#include "recorder/pods/cgroup_path.h"
#include "recorder/pods/kubelet_logs.h"

#include <filesystem>

namespace execaudit::recorder {
namespace fs = std::filesystem;

PodResolver::PodResolver(const CgroupFs& cgroups, Options options) : cgroups_(cgroups), options_(std::move(options)) {}

PodIdentity PodResolver::resolve(uint64_t cgroup_id) const {
    auto path = cgroups_.path_of(cgroup_id);
    if (!path) {
        log::warn("cgroup {} vanished before it could be resolved to a pod", cgroup_id);
        return {};
    }
    return resolve_path(*path);
}

PodIdentity PodResolver::resolve_path(const std::string& cgroup_path) const {
    PodIdentity out;
    out.cgroup_path = cgroup_path;
    auto container = parse_container_cgroup(cgroup_path);
    if (!container) {
        log::warn("cgroup {} is not in a pod/container layout execaudit knows; pod names left empty", cgroup_path);
        return out;
    }
    out.pod_uid = container->pod_uid;
    out.container_id = container->container_id;
    out.runtime = container->runtime;

    // /var/log/containers/<pod>_<ns>_<container>-<id>.log names all four at once.
    std::error_code ec;
    std::string suffix = "-" + container->container_id + ".log";
    for (auto it = fs::directory_iterator(options_.containers_log_dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (!name.ends_with(suffix)) continue;
        if (auto parsed = parse_container_log_name(name); parsed && parsed->container_id == container->container_id) {
            out.namespace_name = parsed->namespace_name;
            out.pod = parsed->pod;
            out.container = parsed->container;
            return out;
        }
    }

    // Otherwise /var/log/pods/<ns>_<pod>_<uid> gives the pod; the container name only when that
    // directory has exactly one container in it (guessing among several would mislead an audit).
    for (auto it = fs::directory_iterator(options_.pods_log_dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        auto parsed = parse_pod_log_dir(it->path().filename().string());
        if (!parsed || parsed->pod_uid != container->pod_uid) continue;
        out.namespace_name = parsed->namespace_name;
        out.pod = parsed->pod;
        std::vector<std::string> containers;
        std::error_code ec2;
        for (auto c = fs::directory_iterator(it->path(), ec2); !ec2 && c != fs::directory_iterator(); c.increment(ec2))
            if (c->is_directory(ec2)) containers.push_back(c->path().filename().string());
        if (containers.size() == 1) out.container = containers[0];
        else log::warn("container {} of pod {}/{}: no /var/log/containers entry and {} container log directories; "
                       "container name left empty", container->container_id, out.namespace_name, out.pod, containers.size());
        return out;
    }
    log::warn("pod {} (container {}): no kubelet log names under {} or {}; namespace and pod left empty",
              container->pod_uid, container->container_id, options_.pods_log_dir, options_.containers_log_dir);
    return out;
}

}  // namespace execaudit::recorder
