#pragma once
// What `record` and `trace` both do before attaching: choose the pod cgroup roots and tell the
// kernel side which processes are the inits of containers that already run.

#include "recorder/capture/capture.h"
#include "recorder/pods/cgroup_fs.h"

#include <string>
#include <vector>

namespace execaudit::recorder {

/// --cgroup-root values, or the kubelet's roots found on this node. Throws UsageError when
/// there are none.
std::vector<CgroupRoot> choose_roots(const CgroupFs& cgroups, const std::vector<std::string>& arguments);

/// Marks the init of every running container. Returns how many containers were seen.
size_t seed_running_containers(Capture& capture, const CgroupFs& cgroups, const std::vector<CgroupRoot>& roots);

}  // namespace execaudit::recorder
