// `execaudit play`: replaying a session's terminal. Recorded bytes only ever reach an emulator.
#include "cli/command.h"
#include "common/errors.h"
#include "replay/final_screen.h"
#include "storage/session_store.h"

#include <fmt/format.h>

#include <iostream>

namespace execaudit::cli {
namespace {

struct PlayArgs {
    std::string db = default_db();
    std::string id;
    bool cat = false;
    double speed = 1.0;
    double idle_limit = 2.0;
};

int run_play(const PlayArgs& a) {
    if (!a.cat)
        throw UsageError("the interactive player is not in this build yet; use `execaudit play ID --cat` for the final screen");
    auto db = storage::Database::open(a.db, storage::Database::Mode::read_only);
    storage::SessionStore store(db);
    auto session = store.find(a.id);
    if (!session) throw UsageError(session.error());
    if (!session->tty) {
        std::cerr << fmt::format("session {} has no terminal (a non-tty exec): nothing to replay; see `execaudit show {}`\n",
                                 session->id, session->id);
        return 0;
    }
    auto screen = replay::render_final_screen(store, *session);
    if (!screen) throw RuntimeError(fmt::format("session {}: {}", session->id, screen.error()));
    for (const auto& line : screen->lines) std::cout << line << '\n';
    if (screen->gaps)
        std::cerr << fmt::format("note: {} gaps in this session: the kernel lost {} terminal bytes\n", screen->gaps,
                                 session->lost_bytes);
    return 0;
}

}  // namespace

void add_play_command(CLI::App& app, Commands& commands) {
    auto args = std::make_shared<PlayArgs>();
    auto* pl = app.add_subcommand("play", "Replay a session's terminal through an emulator (recorded bytes never reach your terminal)");
    add_db_option(pl, args->db);
    pl->add_option("ID", args->id, "Session id, or a unique prefix")->required();
    pl->add_flag("--cat", args->cat, "Print the session's final screen as plain text and exit (no terminal needed)");
    pl->add_option("--speed", args->speed, "Playback speed factor")->capture_default_str()->check(CLI::Range(0.25, 16.0));
    pl->add_option("--idle-limit", args->idle_limit, "Shorten pauses longer than this many seconds")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    commands.push_back({pl, [args] { return run_play(*args); }});
}

}  // namespace execaudit::cli
