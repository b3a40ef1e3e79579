#pragma once
// `execaudit play ID --cat`: a session's output replayed through the emulator at its recorded
// geometry; the screen as it was at the end, as plain text.

#include "storage/session_store.h"

#include <expected>
#include <string>
#include <vector>

namespace execaudit::replay {

struct FinalScreen {
    int rows = 0;
    int cols = 0;
    std::vector<std::string> lines;
    uint64_t gaps = 0;  ///< gap frames met: data the kernel lost
};

/// Replays every chunk of the session. An error when a chunk is damaged.
std::expected<FinalScreen, std::string> render_final_screen(storage::SessionStore& store,
                                                            const storage::SessionRecord& session);

}  // namespace execaudit::replay
