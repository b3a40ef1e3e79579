#include "recorder/capture/scope.h"

#include "common/errors.h"
#include "common/log.h"
#include "recorder/pods/container_scan.h"

#include <fmt/format.h>

namespace execaudit::recorder {

std::vector<CgroupRoot> choose_roots(const CgroupFs& cgroups, const std::vector<std::string>& arguments) {
    std::vector<CgroupRoot> roots;
    for (const auto& arg : arguments) roots.push_back(cgroups.root_from_argument(arg));
    if (roots.empty()) roots = cgroups.detect_pod_roots();
    if (roots.empty())
        throw UsageError(fmt::format("no pod cgroups under {} (looked for /kubepods.slice, /kubepods, "
                                     "/kubelet.slice/kubelet-kubepods.slice); is this a Kubernetes node? "
                                     "pass --cgroup-root", cgroups.mount_point()));
    return roots;
}

size_t seed_running_containers(Capture& capture, const CgroupFs& cgroups, const std::vector<CgroupRoot>& roots) {
    auto containers = scan_existing_containers(cgroups, roots);
    size_t early_execs = 0;
    for (const auto& c : containers) {
        capture.mark_init(c.cgroup_id, c.init.pid);
        early_execs += c.execs.size();
        for (const auto& e : c.execs)
            log::info("pid {} entered {} before the recorder started", e.pid, c.path);
    }
    log::info("{} running containers found below the pod roots", containers.size());
    return containers.size();
}

}  // namespace execaudit::recorder
