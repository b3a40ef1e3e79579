#include "replay/final_screen.h"

#include "replay/play_frames.h"
#include "replay/terminal_screen.h"

namespace execaudit::replay {

FinalScreen render_final_screen(const Recording& recording) {
    TerminalScreen screen(recording.initial_rows(), recording.initial_cols());
    play_frames(screen, recording, 0, recording.frames().size());
    FinalScreen out;
    for (const auto& g : recording.gaps()) {
        if (g.damage.empty()) ++out.gaps;
        else out.damage.push_back(g.damage);
    }
    out.rows = screen.rows();
    out.cols = screen.cols();
    out.lines = screen.text();
    return out;
}

std::expected<FinalScreen, std::string> render_final_screen(storage::SessionReader& store,
                                                            const storage::SessionRecord& session) {
    auto recording = Recording::load(store, session, /*with_commands=*/false);  // the screen only
    if (!recording) return std::unexpected(recording.error());
    return render_final_screen(*recording);
}

}  // namespace execaudit::replay
