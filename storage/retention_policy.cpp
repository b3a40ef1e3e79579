#include "storage/retention_policy.h"

#include "common/errors.h"
#include "common/text.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace execaudit::storage {
namespace {

bool has_wildcard(std::string_view glob) { return glob.find_first_of("*?[") != std::string_view::npos; }

size_t literal_chars(std::string_view glob) {
    return static_cast<size_t>(std::count_if(glob.begin(), glob.end(), [](char c) {
        return c != '*' && c != '?' && c != '[' && c != ']';
    }));
}

}  // namespace

uint64_t SizeBound::resolve(uint64_t filesystem_bytes) const {
    if (percent > 0) return static_cast<uint64_t>(static_cast<double>(filesystem_bytes) * percent / 100.0);
    return bytes;
}

SizeBound parse_size_bound(std::string_view text, std::string_view flag) {
    SizeBound b;
    b.text = std::string(text);
    auto bad = [&] {
        return UsageError(fmt::format("--{} {}: give bytes (1073741824), with a suffix (512M, 10G, 1T; powers of 1024), "
                                      "a share of the database's file system (25%), or 0 for none",
                                      flag, terminal_safe(std::string(text))));
    };
    if (text.empty()) throw bad();
    if (text.back() == '%') {
        std::string num(text.substr(0, text.size() - 1));
        char* end = nullptr;
        double p = std::strtod(num.c_str(), &end);
        if (num.empty() || end != num.c_str() + num.size() || !std::isfinite(p) || p < 0 || p > 100) throw bad();
        b.percent = p;
        return b;
    }
    uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || ptr == text.data()) throw bad();
    std::string suffix(ptr, text.data() + text.size());
    for (auto& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    int shift = 0;
    if (suffix.empty() || suffix == "B") shift = 0;
    else if (suffix == "K" || suffix == "KB" || suffix == "KIB") shift = 10;
    else if (suffix == "M" || suffix == "MB" || suffix == "MIB") shift = 20;
    else if (suffix == "G" || suffix == "GB" || suffix == "GIB") shift = 30;
    else if (suffix == "T" || suffix == "TB" || suffix == "TIB") shift = 40;
    else throw bad();
    if (shift && n > (std::numeric_limits<uint64_t>::max() >> shift)) throw bad();
    b.bytes = n << shift;
    return b;
}

NamespaceRule parse_namespace_rule(std::string_view text) {
    auto eq = text.rfind('=');
    auto bad = [&](std::string why) {
        return UsageError(fmt::format("--retention-namespace {}: {} (GLOB=DAYS, e.g. prod-*=400, or GLOB=forever)",
                                      terminal_safe(std::string(text)), why));
    };
    if (eq == std::string_view::npos || eq == 0) throw bad("no GLOB=DAYS");
    NamespaceRule r{.glob = std::string(text.substr(0, eq)), .text = std::string(text)};
    std::string_view days = text.substr(eq + 1);
    if (r.glob.size() > 253) throw bad("the glob is longer than any namespace");
    if (days == "forever") return r;
    uint32_t d = 0;
    auto [ptr, ec] = std::from_chars(days.data(), days.data() + days.size(), d);
    if (ec != std::errc() || ptr != days.data() + days.size() || d == 0 || d > 36500)
        throw bad("DAYS is a whole number from 1 to 36500, or forever");
    r.days = d;
    return r;
}

bool RetentionPolicy::any_age_rule() const {
    if (days) return true;
    return std::any_of(namespaces.begin(), namespaces.end(), [](const auto& r) { return r.days.has_value(); });
}

std::string RetentionPolicy::describe() const {
    std::string out = days ? fmt::format("sessions kept {} days after they end", *days) : "no age limit";
    for (const auto& r : namespaces)
        out += fmt::format(", namespace {} {}", terminal_safe(r.glob), r.days ? fmt::format("{} days", *r.days) : "forever");
    out += max_db_size.off() ? ", no size cap" : fmt::format(", max-db-size {}", max_db_size.text);
    out += min_free_space.off() ? ", no free-space floor" : fmt::format(", min-free-space {}", min_free_space.text);
    if (!export_cursors.empty()) out += fmt::format(", deleting only what {} export destinations confirmed", export_cursors.size());
    return out;
}

AppliedRule rule_for(const RetentionPolicy& policy, std::string_view ns) {
    std::string name(ns);
    const NamespaceRule* best = nullptr;
    auto rank = [](const NamespaceRule& r) {
        return std::make_pair(!has_wildcard(r.glob) ? std::numeric_limits<size_t>::max() : literal_chars(r.glob), r.glob.size());
    };
    for (const auto& r : policy.namespaces) {
        if (fnmatch(r.glob.c_str(), name.c_str(), 0) != 0) continue;
        if (!best || rank(r) > rank(*best)) best = &r;
    }
    if (best) return {best->days, "retention-namespace " + best->text};
    if (policy.days) return {policy.days, fmt::format("retention-days {}", *policy.days)};
    return {std::nullopt, ""};
}

AgeJudgement judge_by_age(const RetentionPolicy& policy, const RetentionCandidate& c, int64_t now_ns) {
    AgeJudgement j{.rule = rule_for(policy, c.namespace_name)};
    if (!j.rule.days || c.ended_ns + static_cast<int64_t>(*j.rule.days) * kDayNs > now_ns) return j;
    j.verdict = c.held ? AgeVerdict::held : !c.exported ? AgeVerdict::unexported : AgeVerdict::expired;
    return j;
}

std::optional<int64_t> age_cutoff(const RetentionPolicy& policy, int64_t now_ns) {
    if (!policy.any_age_rule()) return std::nullopt;
    uint32_t shortest = std::numeric_limits<uint32_t>::max();
    if (policy.days) shortest = *policy.days;
    for (const auto& r : policy.namespaces)
        if (r.days) shortest = std::min(shortest, *r.days);
    return now_ns - static_cast<int64_t>(shortest) * kDayNs;
}

}  // namespace execaudit::storage
