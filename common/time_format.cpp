#include "common/time_format.h"

#include <climits>

#include <fmt/format.h>

#include <charconv>
#include <ctime>

namespace execaudit {
namespace {

constexpr int64_t kNsPerSec = 1'000'000'000;

bool parse_digits(std::string_view s, size_t pos, size_t count, int& out) {
    if (pos + count > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + count; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
}

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int days_in_month(int y, int m) {
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

}  // namespace

int64_t wall_clock_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

std::string format_rfc3339_us(int64_t unix_ns) {
    int64_t secs = unix_ns / kNsPerSec;
    int64_t rem = unix_ns % kNsPerSec;
    if (rem < 0) {
        rem += kNsPerSec;
        secs -= 1;
    }
    time_t t = static_cast<time_t>(secs);
    tm parts{};
    gmtime_r(&t, &parts);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", parts.tm_year + 1900,
                       parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                       rem / 1000);
}

std::expected<int64_t, std::string> parse_rfc3339(std::string_view s) {
    auto bad = [&](std::string_view why) {
        return std::unexpected(fmt::format("'{}' is not an RFC 3339 time ({}); example: 2024-10-29T12:21:44Z", s, why));
    };
    int year, month, day, hour = 0, minute = 0, second = 0;
    if (!parse_digits(s, 0, 4, year) || s.size() < 10 || s[4] != '-' || !parse_digits(s, 5, 2, month) ||
        s[7] != '-' || !parse_digits(s, 8, 2, day))
        return bad("expected YYYY-MM-DD");
    if (month < 1 || month > 12) return bad("month out of range");
    if (day < 1 || day > days_in_month(year, month)) return bad("day out of range");
    int64_t frac_ns = 0;
    int64_t offset_s = 0;
    size_t pos = 10;
    if (pos < s.size()) {
        if (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ') return bad("expected 'T' after the date");
        if (!parse_digits(s, pos + 1, 2, hour) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
            !parse_digits(s, pos + 4, 2, minute) || pos + 6 >= s.size() || s[pos + 6] != ':' ||
            !parse_digits(s, pos + 7, 2, second))
            return bad("expected HH:MM:SS");
        if (hour > 23 || minute > 59 || second > 60) return bad("time of day out of range");
        pos += 9;
        if (pos < s.size() && s[pos] == '.') {
            ++pos;
            size_t start = pos;
            int64_t scale = 100'000'000;
            while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
                if (scale > 0) frac_ns += (s[pos] - '0') * scale;
                scale /= 10;
                ++pos;
            }
            if (pos == start) return bad("empty fraction");
        }
        if (pos >= s.size()) return bad("missing time zone (Z or +HH:MM)");
        if (s[pos] == 'Z' || s[pos] == 'z') {
            ++pos;
        } else if (s[pos] == '+' || s[pos] == '-') {
            int oh, om;
            if (!parse_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
                !parse_digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
                return bad("bad time zone offset");
            offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
            pos += 6;
        } else {
            return bad("bad time zone");
        }
        if (pos != s.size()) return bad("trailing characters");
    }
    int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
    int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
    // Nanoseconds since the epoch fit int64 from 1677-09-21 to 2262-04-11.
    if (secs >= INT64_MAX / kNsPerSec || secs <= INT64_MIN / kNsPerSec) return bad("outside the years 1678..2261");
    return secs * kNsPerSec + frac_ns;
}

std::expected<int64_t, std::string> parse_duration(std::string_view s) {
    if (s.empty()) return std::unexpected(std::string("empty duration"));
    int64_t total = 0;
    size_t pos = 0;
    while (pos < s.size()) {
        int64_t value = 0;
        auto [end, ec] = std::from_chars(s.data() + pos, s.data() + s.size(), value);
        if (ec != std::errc() || end == s.data() + pos || value < 0)
            return std::unexpected(fmt::format("'{}' is not a duration; examples: 90s, 15m, 2h, 7d, 1h30m", s));
        pos = static_cast<size_t>(end - s.data());
        if (pos >= s.size())
            return std::unexpected(fmt::format("'{}' needs a unit (s, m, h, d, w)", s));
        int64_t unit;
        switch (s[pos]) {
            case 's': unit = 1; break;
            case 'm': unit = 60; break;
            case 'h': unit = 3600; break;
            case 'd': unit = 86400; break;
            case 'w': unit = 7 * 86400; break;
            default:
                return std::unexpected(fmt::format("'{}': unknown unit '{}' (use s, m, h, d, w)", s, s[pos]));
        }
        ++pos;
        if (value > (INT64_MAX / kNsPerSec) / unit) return std::unexpected(fmt::format("'{}' is too long", s));
        total += value * unit * kNsPerSec;
    }
    return total;
}

std::expected<int64_t, std::string> parse_time_filter(std::string_view text, int64_t now_ns) {
    if (!text.empty() && text.size() >= 10 && text[4] == '-') return parse_rfc3339(text);
    auto d = parse_duration(text);
    if (!d) {
        return std::unexpected(fmt::format(
            "'{}' is neither an RFC 3339 time (2024-10-29T12:21:44Z) nor a duration ago (2h, 30m, 7d)", text));
    }
    return now_ns - *d;
}

std::string format_duration(int64_t ns) {
    if (ns < 0) ns = 0;
    int64_t s = ns / kNsPerSec;
    if (s < 60) return fmt::format("{:.1f}s", static_cast<double>(ns) / kNsPerSec);
    if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
    if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
    return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

}  // namespace execaudit
