#include "replay/clock_text.h"

#include "common/text.h"
#include "common/time_format.h"

#include <fmt/format.h>

#include <charconv>
#include <vector>

namespace execaudit::replay {

std::string format_clock(uint64_t us) {
    uint64_t tenths = us / 100'000;
    uint64_t s = tenths / 10;
    if (s < 3600) return fmt::format("{:02}:{:02}.{}", s / 60, s % 60, tenths % 10);
    return fmt::format("{}:{:02}:{:02}.{}", s / 3600, (s / 60) % 60, s % 60, tenths % 10);
}

namespace {

// "12" or "12.5": microseconds; nullopt-like false when not a plain number
bool parse_seconds(std::string_view t, uint64_t& us) {
    if (t.empty()) return false;
    size_t dot = t.find('.');
    std::string_view whole = t.substr(0, dot);
    std::string_view frac = dot == std::string_view::npos ? std::string_view() : t.substr(dot + 1);
    if (whole.empty() || whole.size() > 9 || frac.size() > 6) return false;
    uint64_t w = 0, f = 0;
    auto r = std::from_chars(whole.data(), whole.data() + whole.size(), w);
    if (r.ec != std::errc() || r.ptr != whole.data() + whole.size()) return false;
    if (!frac.empty()) {
        auto rf = std::from_chars(frac.data(), frac.data() + frac.size(), f);
        if (rf.ec != std::errc() || rf.ptr != frac.data() + frac.size()) return false;
        for (size_t i = frac.size(); i < 6; ++i) f *= 10;
    }
    us = w * 1'000'000 + f;
    return true;
}

bool parse_whole(std::string_view t, uint64_t limit, uint64_t& out) {
    if (t.empty() || t.size() > 6) return false;
    auto r = std::from_chars(t.data(), t.data() + t.size(), out);
    return r.ec == std::errc() && r.ptr == t.data() + t.size() && out < limit;
}

}  // namespace

std::expected<uint64_t, std::string> parse_offset(std::string_view text) {
    auto bad = [&] {
        return std::unexpected(fmt::format("'{}' is not a position; examples: 90, 1:30, 1:02:03, 2m, 1h30m", terminal_safe(text)));
    };
    uint64_t us = 0;
    if (parse_seconds(text, us)) return us;
    if (text.find(':') != std::string_view::npos) {
        std::vector<std::string_view> parts;
        size_t from = 0;
        while (true) {
            size_t colon = text.find(':', from);
            parts.push_back(text.substr(from, colon == std::string_view::npos ? std::string_view::npos : colon - from));
            if (colon == std::string_view::npos) break;
            from = colon + 1;
        }
        if (parts.size() > 3) return bad();
        uint64_t seconds_us = 0, minutes = 0, hours = 0;
        if (!parse_seconds(parts.back(), seconds_us) || seconds_us >= 60'000'000) return bad();
        if (!parse_whole(parts[parts.size() - 2], parts.size() == 3 ? 60 : 1'000'000, minutes)) return bad();
        if (parts.size() == 3 && !parse_whole(parts[0], 1'000'000, hours)) return bad();
        return (hours * 3600 + minutes * 60) * 1'000'000 + seconds_us;
    }
    auto d = parse_duration(text);
    if (!d) return bad();
    return static_cast<uint64_t>(*d / 1000);
}

}  // namespace execaudit::replay
