#pragma once
// `execaudit sessions --pick`: the sessions as a list on the terminal. Typing filters it (any
// part of the id, user, pod, container or command), arrows move, Enter plays the session in
// the player, and quitting the player comes back to the list.

#include "replay/player.h"
#include "storage/session_store.h"

#include <string>
#include <vector>

namespace execaudit::cli {

/// One line per session, as the list shows it (sanitized).
std::string picker_line(const storage::SessionRecord& session);
/// The indexes of the sessions whose line contains `filter` (any case).
std::vector<size_t> filter_sessions(const std::vector<std::string>& lines, const std::string& filter);

int pick_and_play(storage::SessionReader& store, const std::vector<storage::SessionRecord>& sessions,
                  const replay::PlayerOptions& options);

}  // namespace execaudit::cli
