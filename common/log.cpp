#include "common/log.h"

#include "common/text.h"
#include "common/time_format.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace execaudit::log {
namespace {

Level initial_level() {
    Level l = Level::info;
    if (const char* env = std::getenv("EXECAUDIT_LOG")) parse_level(env, l);
    return l;
}

std::atomic<Level> g_level{initial_level()};
std::mutex g_write_mutex;

}  // namespace

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }

bool parse_level(std::string_view text, Level& out) {
    if (text == "debug") out = Level::debug;
    else if (text == "info") out = Level::info;
    else if (text == "warn") out = Level::warn;
    else if (text == "error") out = Level::error;
    else return false;
    return true;
}

void write(Level l, std::string_view message) {
    static constexpr const char* names[] = {"debug", "info ", "warn ", "error"};
    // Messages carry names, IDs and errors that came from outside (audit IDs, users, paths,
    // parser errors quoting their input): escaped here, once for every call site, so that no
    // byte from outside can end a line early (a forged FINDING), or reach a terminal raw.
    std::string line = fmt::format("{} {} {}\n", format_rfc3339_us(wall_clock_ns()),
                                   names[static_cast<int>(l)], terminal_safe(message));
    std::lock_guard lock(g_write_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace execaudit::log
