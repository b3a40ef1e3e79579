#pragma once
// Logging to stderr, one line per message: "2024-10-29T12:21:44.189258Z warn  message".
// The recorder is a DaemonSet: stderr is its log. Messages never carry terminal data, and
// write() escapes control characters and invalid UTF-8 in every message (common/text.h's
// terminal_safe): callers need not, and a message is always exactly one line.

#include <fmt/format.h>

#include <string_view>

namespace execaudit::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

/// Messages below this level are dropped. Default info; EXECAUDIT_LOG=debug|info|warn|error.
void set_level(Level level);
Level level();
/// Parses "debug", "info", "warn", "error".
bool parse_level(std::string_view text, Level& out);

void write(Level level, std::string_view message);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (level() <= Level::debug) write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
    if (level() <= Level::info) write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
    if (level() <= Level::warn) write(Level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
    write(Level::error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace execaudit::log
