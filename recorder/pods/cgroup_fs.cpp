#include "recorder/pods/cgroup_fs.h"

#include "common/errors.h"
#include "common/unique_fd.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace execaudit::recorder {
namespace fs = std::filesystem;

namespace {

// mountinfo escapes spaces and friends as \040 etc.
std::string unescape_mount_path(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            int v = 0;
            bool ok = true;
            for (size_t k = 1; k <= 3; ++k) {
                char c = s[i + k];
                if (c < '0' || c > '7') ok = false;
                v = v * 8 + (c - '0');
            }
            if (ok) {
                out += static_cast<char>(v);
                i += 3;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

std::string normalize(std::string_view path) {
    std::string p = "/";
    for (const auto& part : fs::path(path).lexically_normal()) {
        std::string s = part.string();
        if (s.empty() || s == "/" || s == ".") continue;
        if (p.size() > 1) p += '/';
        p += s;
    }
    return p;
}

int level_of(std::string_view path) {
    int level = 0;
    for (const auto& part : fs::path(path)) {
        std::string s = part.string();
        if (!s.empty() && s != "/") ++level;
    }
    return level;
}

/// The root cgroup is the only one without a cgroup.type file. Seen from inside a cgroup namespace
/// (a pod on a cgroup v2 node), mountinfo shows a mount of the host's whole tree (the DaemonSet's
/// hostPath) with a root of "/../..", and the pod's own /sys/fs/cgroup, which is only its own
/// cgroup, with a root of "/": so the directory is asked, not mountinfo.
bool is_hierarchy_root(const std::string& mount_point) {
    std::error_code ec;
    return fs::exists(mount_point + "/cgroup.procs", ec) && !fs::exists(mount_point + "/cgroup.type", ec);
}

}  // namespace

CgroupFs::CgroupFs(std::string mount_point) : mount_point_(std::move(mount_point)) {}

CgroupFs CgroupFs::discover() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // id parent major:minor root mount-point options [optional...] - fstype source super-options
        size_t sep = line.find(" - ");
        if (sep == std::string::npos) continue;
        std::istringstream tail(line.substr(sep + 3));
        std::string fstype;
        tail >> fstype;
        if (fstype != "cgroup2") continue;
        std::istringstream head(line.substr(0, sep));
        std::string id, parent, dev, root, mount_point;
        head >> id >> parent >> dev >> root >> mount_point;
        std::string path = unescape_mount_path(mount_point);
        if (!is_hierarchy_root(path)) continue;  // a sub-tree (a bind mount, or a cgroup namespace's view)
        return CgroupFs(path);
    }
    throw RuntimeError("no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo for a cgroup2 mount of the root "
                       "cgroup); execaudit needs cgroup v2 (unified or hybrid layout), and in a container the host's "
                       "/sys/fs/cgroup mounted (deploy/kubernetes mounts it at /host/sys/fs/cgroup)");
}

std::optional<std::string> CgroupFs::path_of(uint64_t id) const {
    // cgroupfs accepts its ids as file handles (FILEID_KERNFS): O(1), no directory walk.
    UniqueFd mount_fd(::open(mount_point_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!mount_fd) return std::nullopt;
    struct {
        file_handle fh;
        uint64_t id;
    } handle{};
    handle.fh.handle_bytes = sizeof(uint64_t);
    handle.fh.handle_type = 0xfe;  // FILEID_KERNFS
    handle.id = id;
    UniqueFd fd(::open_by_handle_at(mount_fd.get(), &handle.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd) {
        std::error_code ec;
        auto target = fs::read_symlink(fmt::format("/proc/self/fd/{}", fd.get()), ec);
        if (!ec) {
            std::string full = target.string();
            if (full == mount_point_) return std::string("/");
            if (full.starts_with(mount_point_ + "/")) return full.substr(mount_point_.size());
        }
    }
    return std::nullopt;
}

std::optional<uint64_t> CgroupFs::id_of(std::string_view path) const {
    struct stat st{};
    std::string full = mount_point_ + normalize(path);
    if (::stat(full.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
    return static_cast<uint64_t>(st.st_ino);
}

CgroupRoot CgroupFs::root_from_argument(std::string_view arg) const {
    std::string path(arg);
    if (path.empty()) throw UsageError("--cgroup-root: empty path");
    if (path.starts_with(mount_point_ + "/") || path == mount_point_) path = path.substr(mount_point_.size());
    path = normalize(path);
    auto id = id_of(path);
    if (!id)
        throw UsageError(fmt::format("--cgroup-root {}: no such cgroup under {} (give a path like /kubepods or {}/kubepods)",
                                     arg, mount_point_, mount_point_));
    return CgroupRoot{path, *id, level_of(path)};
}

std::vector<CgroupRoot> CgroupFs::detect_pod_roots() const {
    static constexpr const char* kCandidates[] = {
        "/kubepods.slice", "/kubepods", "/kubelet.slice/kubelet-kubepods.slice", "/kubelet/kubepods",
    };
    std::vector<CgroupRoot> roots;
    for (const char* candidate : kCandidates) {
        if (auto id = id_of(candidate)) roots.push_back(CgroupRoot{candidate, *id, level_of(candidate)});
    }
    return roots;
}

std::vector<std::string> CgroupFs::walk(std::string_view root) const {
    std::vector<std::string> out;
    std::string base = normalize(root);
    std::string full = mount_point_ + base;
    std::error_code ec;
    if (!fs::is_directory(full, ec)) return out;
    out.push_back(base);
    for (auto it = fs::recursive_directory_iterator(full, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_directory(ec) && !it->is_symlink(ec)) out.push_back(it->path().string().substr(mount_point_.size()));
    }
    return out;
}

std::vector<uint32_t> CgroupFs::procs(std::string_view path) const {
    std::vector<uint32_t> out;
    std::ifstream in(mount_point_ + normalize(path) + "/cgroup.procs");
    uint32_t pid;
    while (in >> pid) out.push_back(pid);
    return out;
}

std::optional<std::string> cgroup_of_pid(uint32_t pid) {
    std::ifstream in(fmt::format("/proc/{}/cgroup", pid));
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("0::")) return line.substr(3);
    }
    return std::nullopt;
}

bool cgroup_within(std::string_view path, std::string_view ancestor) {
    if (ancestor == "/") return true;
    return path == ancestor || (path.starts_with(ancestor) && path.size() > ancestor.size() && path[ancestor.size()] == '/');
}

}  // namespace execaudit::recorder
