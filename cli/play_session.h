#pragma once
// Playing one session interactively, shared by `play` and the `sessions --pick` browser.

#include "replay/player.h"
#include "storage/session_store.h"

namespace execaudit::cli {

/// Loads the session and runs the player on this terminal (a curses session of its own).
int play_interactively(storage::SessionReader& store, const storage::SessionRecord& session, const replay::PlayerOptions& options);

}  // namespace execaudit::cli
