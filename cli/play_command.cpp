// `execaudit play`: replaying a session's terminal. Recorded bytes only ever reach an emulator.
#include "cli/command.h"
#include "cli/play_session.h"
#include "common/errors.h"
#include "common/text.h"
#include "replay/clock_text.h"
#include "replay/final_screen.h"
#include "replay/player_keys.h"
#include "replay/playback.h"
#include "storage/read_store.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>

namespace execaudit::cli {
namespace {

struct PlayArgs {
    std::string db = default_db();
    std::string id;
    bool cat = false;
    bool paused = false;
    double speed = 1.0;
    double idle_limit = 2.0;
    std::string start;
};

replay::PlayerOptions player_options(const PlayArgs& a) {
    replay::PlayerOptions o;
    o.playback.speed = a.speed;
    // 0 starts in real time and keeps the default limit for the `i` key
    o.playback.idle_compression = a.idle_limit > 0;
    if (o.playback.idle_compression)
        o.playback.idle_limit_us = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(a.idle_limit * 1e6)));
    o.start_playing = !a.paused;
    if (!a.start.empty()) {
        auto at = replay::parse_offset(a.start);
        if (!at) throw UsageError("--start: " + at.error());
        o.start_us = *at;
    }
    return o;
}

// The screen at --start, as text (for scripts: what the analyst would see there).
int print_screen_at(storage::SessionReader& store, const storage::SessionRecord& session, uint64_t at) {
    // the screen only: an 8-hour session's 100k commands would be most of the memory (issue 12)
    auto rec = replay::Recording::load(store, session, /*with_commands=*/false);
    if (!rec) throw RuntimeError(fmt::format("session {}: {}", session.id, rec.error()));
    if (at > rec->duration_us())
        throw UsageError(fmt::format("--start {} is past the end of session {} ({})", replay::format_clock(at), session.id,
                                     replay::format_clock(rec->duration_us())));
    for (const auto& line : replay::render_screen_at(*rec, at).lines) std::cout << line << '\n';
    return 0;
}

int run_play(const PlayArgs& a) {
    auto options = player_options(a);
    if (!a.cat && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
        throw UsageError("`play` is interactive and needs a terminal (stdin and stdout); use `execaudit play ID --cat` for the "
                         "final screen as text");
    auto db = storage::open_read_store(a.db);
    auto& store = db->sessions();
    auto session = store.find(a.id);
    if (!session) throw UsageError(session.error());
    if (!a.cat) return play_interactively(store, *session, options);
    if (!session->tty) {
        std::cerr << fmt::format("session {} has no terminal (a non-tty exec): nothing to replay; see `execaudit show {}`\n",
                                 terminal_safe(session->id), terminal_safe(session->id));
        return 0;
    }
    if (!a.start.empty()) return print_screen_at(store, *session, options.start_us);
    auto screen = replay::render_final_screen(store, *session);
    if (!screen) throw RuntimeError(fmt::format("session {}: {}", session->id, screen.error()));
    for (const auto& line : screen->lines) std::cout << line << '\n';
    if (screen->gaps) {
        std::string why;
        for (auto cause : screen->causes) why += fmt::format("{}{}", why.empty() ? "" : "; ", storage::gap_cause_text(cause));
        std::cerr << fmt::format("note: {} gaps in this session: {} terminal bytes were not recorded ({}; `execaudit show` "
                                 "and the recorder's log say more)\n",
                                 screen->gaps, screen->gap_bytes, why);
    }
    for (const auto& gap : screen->recorder_gaps) std::cerr << "note: " << gap << '\n';
    for (const auto& why : screen->damage) std::cerr << "note: damaged data skipped: " << terminal_safe(why) << '\n';
    return 0;
}

std::string keys_footer() {
    std::string out = "Keys while playing:\n";
    for (const auto& [keys, what] : replay::key_help()) out += fmt::format("  {:<10} {}\n", keys, what);
    out +=
        "\nThe header shows who (the Kubernetes user, or the attribution when none is known), the pod,\n"
        "container, node and start time; the timeline lists every command with its time and result,\n"
        "and LOST where the kernel could not record data. A recording larger than the terminal is\n"
        "clipped (the header says so); pan with H J K L.\n"
        "\nExamples:\n"
        "  execaudit play 3f2a9c0d                       # interactive\n"
        "  execaudit play 3f2a9c0d --start 2:30 --paused  # open at 2 min 30 s\n"
        "  execaudit play 3f2a9c0d --cat                  # the final screen as text\n"
        "  execaudit play 3f2a9c0d --cat --start 90s      # the screen at 1:30 as text";
    return out;
}

}  // namespace

void add_play_command(CLI::App& app, Commands& commands) {
    auto args = std::make_shared<PlayArgs>();
    auto* pl = app.add_subcommand("play", "Replay a session's terminal through an emulator (recorded bytes never reach your terminal)");
    add_db_option(pl, args->db);
    pl->add_option("ID", args->id, "Session id, or a unique prefix")->required();
    pl->add_flag("--cat", args->cat,
                 "Print the session's final screen (or the screen at --start) as plain text and exit (no terminal needed)");
    pl->add_option("--speed", args->speed, "Playback speed factor (0.25 .. 16)")->capture_default_str()->check(CLI::Range(0.25, 16.0));
    pl->add_option("--idle-limit", args->idle_limit,
                   "Pauses longer than this many seconds play as this long; 0: real time (then the i key shortens them to 2 s)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 86400.0));
    pl->add_option("--start", args->start, "Start at this position: seconds (90), M:SS (1:30), H:MM:SS or a duration (2m, 1h30m)");
    pl->add_flag("--paused", args->paused, "Open paused instead of playing");
    pl->footer(keys_footer());
    commands.push_back({pl, [args] { return run_play(*args); }});
}

}  // namespace execaudit::cli
