#pragma once
// Time as users see it: RFC 3339 UTC with microseconds, and the --since/--until syntax.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace execaudit {

/// Nanoseconds since the Unix epoch, CLOCK_REALTIME.
int64_t wall_clock_ns();

/// "2024-10-29T12:21:44.189258Z": always six fractional digits, always UTC.
std::string format_rfc3339_us(int64_t unix_ns);

/// Parses RFC 3339 ("2024-10-29T12:21:44Z", "...44.189258+02:00", "2024-10-29 12:21:44Z") or a
/// plain date ("2024-10-29", midnight UTC). Returns ns since the epoch, or a reason.
std::expected<int64_t, std::string> parse_rfc3339(std::string_view text);

/// Parses a duration like "90s", "15m", "2h", "7d", "1w" or "1h30m". Returns nanoseconds.
std::expected<int64_t, std::string> parse_duration(std::string_view text);

/// A --since/--until value: RFC 3339, or a duration meaning that long before `now_ns`.
std::expected<int64_t, std::string> parse_time_filter(std::string_view text, int64_t now_ns);

/// "3.2s", "4m05s", "2h03m", "3d04h": short and readable.
std::string format_duration(int64_t ns);

}  // namespace execaudit
