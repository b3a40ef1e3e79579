#pragma once
// `execaudit play ID`: the interactive player. Keys (player_keys.h) drive the playback model
// (playback.h); the view (player_view.h) draws it with ncurses.

#include "replay/playback.h"
#include "replay/recording.h"

#include <cstdint>

namespace execaudit::replay {

class CursesSession;

struct PlayerOptions {
    PlaybackOptions playback;
    uint64_t start_us = 0;
    bool start_playing = true;
};

/// Runs until the analyst quits (or SIGTERM/SIGHUP); the terminal is restored on every exit path.
/// Returns the exit status (0).
int run_player(CursesSession& curses, const Recording& recording, const PlayerOptions& options);

}  // namespace execaudit::replay
