#pragma once
// What each recorded frame does to the emulator, in one place: the player, `play --cat` and the
// benchmark all replay through it, so they cannot disagree.

#include "replay/recording.h"
#include "replay/terminal_screen.h"

#include <cstddef>

namespace execaudit::replay {

/// Plays frames [from, to) of `recording` on `screen`: output is fed, resizes resize.
void play_frames(TerminalScreen& screen, const Recording& recording, size_t from, size_t to);

}  // namespace execaudit::replay
