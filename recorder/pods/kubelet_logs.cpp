#include "recorder/pods/kubelet_logs.h"

#include <algorithm>
#include <vector>

namespace execaudit::recorder {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    size_t pos = 0;
    for (;;) {
        size_t end = s.find(sep, pos);
        out.push_back(s.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
        if (end == std::string_view::npos) return out;
        pos = end + 1;
    }
}

bool is_uid_like(std::string_view s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-';
    });
}

bool is_hex_id(std::string_view s) {
    return s.size() >= 12 && s.size() <= 128 &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

bool is_dns_label(std::string_view s) {
    if (s.empty() || s.size() > 63) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(s.front()) || !alnum(s.back())) return false;
    return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool is_dns_subdomain(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    auto labels = split(s, '.');
    return std::all_of(labels.begin(), labels.end(), [](std::string_view l) { return is_dns_label(l); });
}

std::optional<PodLogDir> parse_pod_log_dir(std::string_view name) {
    auto parts = split(name, '_');
    if (parts.size() != 3) return std::nullopt;
    if (!is_dns_label(parts[0]) || !is_dns_subdomain(parts[1]) || !is_uid_like(parts[2])) return std::nullopt;
    return PodLogDir{std::string(parts[0]), std::string(parts[1]), std::string(parts[2])};
}

std::optional<ContainerLogName> parse_container_log_name(std::string_view name) {
    if (!name.ends_with(".log")) return std::nullopt;
    name.remove_suffix(4);
    size_t dash = name.rfind('-');
    if (dash == std::string_view::npos) return std::nullopt;
    std::string_view id = name.substr(dash + 1);
    if (!is_hex_id(id)) return std::nullopt;
    auto parts = split(name.substr(0, dash), '_');
    if (parts.size() != 3) return std::nullopt;
    if (!is_dns_subdomain(parts[0]) || !is_dns_label(parts[1]) || !is_dns_label(parts[2])) return std::nullopt;
    return ContainerLogName{std::string(parts[0]), std::string(parts[1]), std::string(parts[2]), std::string(id)};
}

}  // namespace execaudit::recorder
