#include "cli/play_session.h"

#include "common/errors.h"
#include "replay/clock_text.h"
#include "replay/player_view.h"
#include "replay/recording.h"

#include <fmt/format.h>

namespace execaudit::cli {

int play_interactively(storage::SessionReader& store, const storage::SessionRecord& session, const replay::PlayerOptions& options) {
    auto rec = replay::Recording::load(store, session);
    if (!rec) throw RuntimeError(fmt::format("session {}: {}", session.id, rec.error()));
    if (options.start_us > rec->duration_us())
        throw UsageError(fmt::format("--start {} is past the end of session {} ({})", replay::format_clock(options.start_us), session.id,
                                     replay::format_clock(rec->duration_us())));
    replay::CursesSession curses;
    return replay::run_player(curses, *rec, options);
}

}  // namespace execaudit::cli
