#include "replay/play_frames.h"

namespace execaudit::replay {

void play_frames(TerminalScreen& screen, const Recording& recording, size_t from, size_t to) {
    const auto& frames = recording.frames();
    for (size_t i = from; i < to; ++i) {
        const PlayFrame& f = frames[i];
        if (f.kind == storage::FrameKind::output) screen.feed(recording.data(f));
        else if (f.kind == storage::FrameKind::resize) screen.resize(static_cast<int>(f.rows), static_cast<int>(f.cols));
    }
}

}  // namespace execaudit::replay
