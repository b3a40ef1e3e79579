#include "recorder/pods/cgroup_path.h"

#include <algorithm>
#include <vector>

namespace execaudit::recorder {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        if (end > pos) parts.push_back(path.substr(pos, end - pos));
        pos = end + 1;
    }
    return parts;
}

bool is_hex(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    });
}

// 8-4-4-4-12 lowercase hex with dashes.
// A pod UID as the kubelet names pod cgroups: the API server's UUIDs (dashed), or a static
// pod's: the md5 of its manifest, 32 hex digits (kubelet pkg/kubelet/config/common.go).
bool is_uid(std::string_view s) {
    if (s.size() == 32) return is_hex(s);
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s.substr(i, 1))) return false;
    }
    return true;
}

bool is_container_id(std::string_view s) { return s.size() >= 12 && s.size() <= 128 && is_hex(s); }

bool consume_prefix(std::string_view& s, std::string_view prefix) {
    if (!s.starts_with(prefix)) return false;
    s.remove_prefix(prefix.size());
    return true;
}

bool consume_suffix(std::string_view& s, std::string_view suffix) {
    if (!s.ends_with(suffix)) return false;
    s.remove_suffix(suffix.size());
    return true;
}

// "pod<UID>" (cgroupfs) or "kubepods[-<qos>]-pod<UID_>.slice" (systemd). Returns the UID with dashes.
std::optional<std::string> pod_uid_of(std::string_view part, bool& systemd) {
    std::string_view s = part;
    if (consume_prefix(s, "pod")) {
        if (is_uid(s)) {
            systemd = false;
            return std::string(s);
        }
        return std::nullopt;
    }
    // kubepods-besteffort-pod<UID_>.slice, or with a kubelet --cgroup-root prefix
    // (kubelet-kubepods-besteffort-pod<UID_>.slice)
    if (s.find("kubepods") == std::string_view::npos || !consume_suffix(s, ".slice")) return std::nullopt;
    size_t at = s.rfind("-pod");
    if (at == std::string_view::npos) return std::nullopt;
    std::string uid(s.substr(at + 4));
    std::replace(uid.begin(), uid.end(), '_', '-');
    if (!is_uid(uid)) return std::nullopt;
    systemd = true;
    return uid;
}

std::string qos_of(const std::vector<std::string_view>& parts, size_t pod_index) {
    for (size_t i = 0; i < pod_index; ++i) {
        if (parts[i] == "besteffort" || parts[i].ends_with("-besteffort.slice")) return "besteffort";
        if (parts[i] == "burstable" || parts[i].ends_with("-burstable.slice")) return "burstable";
    }
    return "guaranteed";
}

}  // namespace

std::optional<ContainerCgroup> parse_container_cgroup(std::string_view path) {
    auto parts = split_path(path);
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        bool systemd = false;
        auto uid = pod_uid_of(parts[i], systemd);
        if (!uid) continue;

        std::string_view c = parts[i + 1];
        ContainerCgroup out;
        if (systemd) {
            if (!consume_suffix(c, ".scope")) return std::nullopt;
            if (consume_prefix(c, "cri-containerd-")) out.runtime = "containerd";
            else if (consume_prefix(c, "crio-")) out.runtime = "crio";
            else if (consume_prefix(c, "docker-")) out.runtime = "docker";
            else if (consume_prefix(c, "cri-o-")) out.runtime = "crio";
            else return std::nullopt;  // e.g. crio-conmon-<ID>.scope: the monitor, not a container
        } else if (consume_prefix(c, "crio-")) {
            out.runtime = "crio";
        }
        if (!is_container_id(c)) return std::nullopt;

        out.pod_uid = *uid;
        out.container_id = std::string(c);
        out.qos = qos_of(parts, i);
        for (size_t k = 0; k <= i + 1; ++k) {
            out.container_path += '/';
            out.container_path += parts[k];
        }
        return out;
    }
    return std::nullopt;
}

}  // namespace execaudit::recorder
