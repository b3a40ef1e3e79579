#pragma once
// Positions in a session as people read and type them.

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace execaudit::replay {

/// "01:23.4" under an hour, "1:02:03.4" from an hour on (tenths, rounded down).
std::string format_clock(uint64_t us);

/// "90", "90.5" (seconds), "1:30", "1:02:03", "1:30.5", or a duration like "2m", "1h30m", "90s".
std::expected<uint64_t, std::string> parse_offset(std::string_view text);

}  // namespace execaudit::replay
