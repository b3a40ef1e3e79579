#include "storage/records.h"

#include <nlohmann/json.hpp>

#include <string_view>

namespace execaudit::storage {
namespace {

std::string_view basename_of(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string kubelet_check_json(const KubeletCheck& k) {
    return nlohmann::json{{"kubelet", k.kubelet}, {"entered_via", k.entered_via}, {"name", k.name}, {"reason", k.reason}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<KubeletCheck> kubelet_check_from_json(const std::string& text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    KubeletCheck k;
    auto str = [&](const char* key) { return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string(); };
    k.kubelet = j.contains("kubelet") && j["kubelet"].is_boolean() && j["kubelet"].get<bool>();
    k.entered_via = str("entered_via");
    k.name = str("name");
    k.reason = str("reason");
    return k;
}

bool argv0_mismatch(const CommandRecord& c) {
    if (c.argv.empty() || c.filename.empty()) return !c.argv.empty() && c.exe_fileless;  // fexecve: argv[0] claims a name
    std::string_view arg0 = basename_of(c.argv[0]);
    if (arg0.size() > 1 && arg0.front() == '-') arg0.remove_prefix(1);  // a login shell
    return arg0 != basename_of(c.filename);
}

}  // namespace execaudit::storage

namespace execaudit::storage {

namespace {
constexpr std::string_view kFoldedInto = "folded into ";
}

std::string folded_rule(const std::string& target_id) { return std::string(kFoldedInto) + target_id; }

std::string TombstoneRecord::folded_into() const {
    if (cause != "folded" || !rule.starts_with(kFoldedInto)) return {};
    return rule.substr(kFoldedInto.size());
}

}  // namespace execaudit::storage
