#include "replay/final_screen.h"

#include "replay/play_frames.h"
#include "replay/terminal_screen.h"

#include <algorithm>
#include <cstdint>

namespace execaudit::replay {

namespace {

FinalScreen render_frames(const Recording& recording, size_t frame_end, uint64_t until_us) {
    TerminalScreen screen(recording.initial_rows(), recording.initial_cols());
    play_frames(screen, recording, 0, frame_end);
    FinalScreen out;
    for (const auto& g : recording.gaps()) {
        if (g.offset_us > until_us) break;
        if (g.recorder_gap) {
            out.recorder_gaps.push_back(describe_recorder_gap(g));
            continue;
        }
        if (g.damage.empty()) {
            ++out.gaps;
            out.gap_bytes += g.lost_bytes;
            if (std::find(out.causes.begin(), out.causes.end(), g.cause) == out.causes.end()) out.causes.push_back(g.cause);
        } else out.damage.push_back(g.damage);
    }
    out.rows = screen.rows();
    out.cols = screen.cols();
    out.lines = screen.text();
    return out;
}

}  // namespace

FinalScreen render_final_screen(const Recording& recording) {
    return render_frames(recording, recording.frames().size(), UINT64_MAX);
}

FinalScreen render_screen_at(const Recording& recording, uint64_t at_us) {
    // Every frame at or before the position, as Playback::seek counts them.
    const auto& frames = recording.frames();
    auto end = std::upper_bound(frames.begin(), frames.end(), at_us, [](uint64_t t, const PlayFrame& f) { return t < f.offset_us; });
    return render_frames(recording, static_cast<size_t>(end - frames.begin()), at_us);
}

std::expected<FinalScreen, std::string> render_final_screen(storage::SessionReader& store,
                                                            const storage::SessionRecord& session) {
    auto recording = Recording::load(store, session, /*with_commands=*/false);  // the screen only
    if (!recording) return std::unexpected(recording.error());
    return render_final_screen(*recording);
}

}  // namespace execaudit::replay
