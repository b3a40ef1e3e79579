#pragma once
// The cgroup v2 hierarchy as the recorder sees it: where it is mounted (found in
// /proc/self/mountinfo, never assumed), cgroup id <-> path, and the kubelet's pod roots.
// A cgroup's v2 id is the inode number of its directory.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::recorder {

struct CgroupRoot {
    std::string path;  ///< relative to the cgroup2 mount, e.g. "/kubepods"
    uint64_t id = 0;
    int level = 0;  ///< number of path components ("/kubepods" is level 1)
};

class CgroupFs {
public:
    /// Finds the cgroup2 mount. Throws RuntimeError when there is none.
    static CgroupFs discover();
    /// For tests: a given mount point.
    explicit CgroupFs(std::string mount_point);

    const std::string& mount_point() const { return mount_point_; }

    /// The path of a cgroup ("/kubepods/..."), by id. nullopt when it no longer exists.
    std::optional<std::string> path_of(uint64_t id) const;
    /// The id of a cgroup path (relative to the mount), or nullopt.
    std::optional<uint64_t> id_of(std::string_view path) const;

    /// "--cgroup-root" accepts a path relative to the mount ("/kubepods") or an absolute
    /// filesystem path under it ("/sys/fs/cgroup/kubepods.slice"). Throws UsageError when the
    /// cgroup does not exist.
    CgroupRoot root_from_argument(std::string_view arg) const;

    /// The kubelet's pod cgroups present on this node (kubepods.slice, kubepods, ...).
    std::vector<CgroupRoot> detect_pod_roots() const;

    /// Every cgroup at or below `root` (paths relative to the mount), parents before children.
    std::vector<std::string> walk(std::string_view root) const;

    /// Process ids in one cgroup (cgroup.procs).
    std::vector<uint32_t> procs(std::string_view path) const;

private:
    std::string mount_point_;
};

/// The v2 cgroup path of a process, from /proc/<pid>/cgroup ("0::/path"), or nullopt.
std::optional<std::string> cgroup_of_pid(uint32_t pid);

/// Is `path` equal to `ancestor` or below it?
bool cgroup_within(std::string_view path, std::string_view ancestor);

}  // namespace execaudit::recorder
