#include "replay/final_screen.h"

#include "replay/terminal_screen.h"
#include "storage/io_frames.h"

namespace execaudit::replay {

std::expected<FinalScreen, std::string> render_final_screen(storage::SessionStore& store,
                                                            const storage::SessionRecord& session) {
    int rows = session.rows ? static_cast<int>(session.rows) : 24;
    int cols = session.cols ? static_cast<int>(session.cols) : 80;
    TerminalScreen screen(rows, cols);
    FinalScreen out;
    std::string frame_error;
    auto chunks = store.for_each_chunk(session.id, [&](const storage::ChunkRecord& chunk) {
        if (!frame_error.empty()) return;
        auto decoded = storage::decode_chunk(chunk.frames_data, chunk.first_offset_us, [&](const storage::Frame& f) {
            switch (f.kind) {
                case storage::FrameKind::output:
                    screen.feed(f.data);
                    break;
                case storage::FrameKind::resize:
                    screen.resize(static_cast<int>(f.rows), static_cast<int>(f.cols));
                    break;
                case storage::FrameKind::gap:
                    ++out.gaps;
                    break;
                default:
                    break;  // input is not drawn: the echo the terminal sent back is output
            }
        });
        if (!decoded) frame_error = "chunk " + std::to_string(chunk.seq) + ": " + decoded.error();
    });
    if (!chunks) return std::unexpected(chunks.error());
    if (!frame_error.empty()) return std::unexpected(frame_error);
    out.rows = screen.rows();
    out.cols = screen.cols();
    out.lines = screen.text();
    return out;
}

}  // namespace execaudit::replay
