#pragma once
// `execaudit play ID --cat`: a session's output replayed through the emulator at its recorded
// geometry; the screen as it was at the end (or at --start), as plain text. It reads the session as the player
// does (Recording::load), so both show the same screen and skip the same damaged chunks.

#include "replay/recording.h"
#include "storage/session_store.h"

#include <expected>
#include <string>
#include <vector>

namespace execaudit::replay {

struct FinalScreen {
    int rows = 0;
    int cols = 0;
    std::vector<std::string> lines;
    uint64_t gaps = 0;                ///< gap frames met: data the kernel lost
    std::vector<std::string> recorder_gaps;  ///< times no recorder followed the session (describe_recorder_gap)
    uint64_t gap_bytes = 0;           ///< what they say was lost
    std::vector<storage::GapCause> causes;  ///< why, each once, in order of appearance
    std::vector<std::string> damage;  ///< stored data that could not be read (why), skipped
};

/// The screen after every frame of `recording`.
FinalScreen render_final_screen(const Recording& recording);
/// The screen after every frame at or before `at_us`: what the player shows when it seeks there
/// (`play --cat --start`). One pass from the start, no keyframes: a single seek needs none.
FinalScreen render_screen_at(const Recording& recording, uint64_t at_us);
/// Loads the session and renders it. An error only when the database cannot be read at all.
std::expected<FinalScreen, std::string> render_final_screen(storage::SessionReader& store,
                                                            const storage::SessionRecord& session);

}  // namespace execaudit::replay
