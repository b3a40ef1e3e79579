#include "replay/recording.h"

#include <algorithm>

namespace execaudit::replay {

uint64_t command_offset_us(const storage::SessionRecord& session, const storage::CommandRecord& command) {
    // Frames are timed on the boot clock from the session's start; commands carry the same clock.
    if (command.boot_ns && session.start_boot_ns)
        return command.boot_ns > session.start_boot_ns ? (command.boot_ns - session.start_boot_ns) / 1000 : 0;
    return command.time_ns > session.start_ns ? static_cast<uint64_t>(command.time_ns - session.start_ns) / 1000 : 0;
}

Recording::Recording(storage::SessionRecord session) : session_(std::move(session)) {}

std::expected<Recording, std::string> Recording::load(storage::SessionStore& store, const storage::SessionRecord& session) {
    Recording rec(session);
    for (auto& c : store.commands(session.id)) {
        uint64_t at = command_offset_us(session, c);
        rec.add_command(at, std::move(c));
    }
    auto read = store.for_each_chunk(session.id, [&](const storage::ChunkRecord& chunk) {
        std::string error;
        if (!rec.add_chunk(chunk, error)) rec.add_gap(Gap{chunk.first_offset_us, 0, 0, "chunk " + std::to_string(chunk.seq) + ": " + error});
    });
    if (!read) {
        // The rest of the stream cannot be read: say so where it stops, and play what came before.
        rec.add_gap(Gap{rec.last_us_, 0, 0, read.error()});
    }
    return rec;
}

bool Recording::add_chunk(const storage::ChunkRecord& chunk, std::string& error) {
    // Decode into a scratch recording first, so a chunk damaged halfway adds nothing.
    Recording part(session_);
    part.last_us_ = last_us_;
    auto decoded = storage::decode_chunk(chunk.frames_data, chunk.first_offset_us, [&](const storage::Frame& f) {
        switch (f.kind) {
            case storage::FrameKind::output: part.add_output(f.offset_us, f.data); break;
            case storage::FrameKind::resize: part.add_resize(f.offset_us, f.rows, f.cols); break;
            case storage::FrameKind::gap: part.add_gap(Gap{f.offset_us, f.lost_events, f.lost_bytes, {}}); break;
            default: break;  // input: never drawn
        }
    });
    if (!decoded) {
        error = decoded.error();
        return false;
    }
    // in time order, so a gap keeps its place among the chunk's frames
    size_t g = 0;
    for (const auto& f : part.frames_) {
        for (; g < part.gaps_.size() && part.gaps_[g].offset_us <= f.offset_us; ++g) add_gap(std::move(part.gaps_[g]));
        if (f.kind == storage::FrameKind::output) add_output(f.offset_us, part.data(f));
        else if (f.kind == storage::FrameKind::resize) add_resize(f.offset_us, f.rows, f.cols);
    }
    for (; g < part.gaps_.size(); ++g) add_gap(std::move(part.gaps_[g]));
    return true;
}

void Recording::add_output(uint64_t offset_us, std::string_view bytes) {
    if (bytes.empty()) return;
    last_us_ = std::max(last_us_, offset_us);  // time never goes backwards on the axis
    frames_.push_back(PlayFrame{last_us_, storage::FrameKind::output, output_.size(), static_cast<uint32_t>(bytes.size()), 0, 0});
    output_.append(bytes);
}

void Recording::add_resize(uint64_t offset_us, uint32_t rows, uint32_t cols) {
    last_us_ = std::max(last_us_, offset_us);
    frames_.push_back(PlayFrame{last_us_, storage::FrameKind::resize, 0, 0, rows, cols});
}

void Recording::add_gap(Gap gap) {
    last_us_ = std::max(last_us_, gap.offset_us);
    gap.offset_us = last_us_;
    gaps_.push_back(std::move(gap));
}

void Recording::add_command(uint64_t offset_us, storage::CommandRecord command) {
    TimedCommand c{offset_us, std::move(command)};
    auto at = std::upper_bound(commands_.begin(), commands_.end(), c.offset_us,
                               [](uint64_t t, const TimedCommand& x) { return t < x.offset_us; });
    commands_.insert(at, std::move(c));
}

int Recording::initial_rows() const {
    if (session_.rows) return static_cast<int>(session_.rows);
    for (const auto& f : frames_)
        if (f.kind == storage::FrameKind::resize) return static_cast<int>(f.rows);
    return 24;
}

int Recording::initial_cols() const {
    if (session_.cols) return static_cast<int>(session_.cols);
    for (const auto& f : frames_)
        if (f.kind == storage::FrameKind::resize) return static_cast<int>(f.cols);
    return 80;
}

uint64_t Recording::duration_us() const {
    uint64_t d = last_us_;
    if (!commands_.empty()) d = std::max(d, commands_.back().offset_us);
    if (session_.end_ns && *session_.end_ns > session_.start_ns)
        d = std::max(d, static_cast<uint64_t>(*session_.end_ns - session_.start_ns) / 1000);
    return d;
}

}  // namespace execaudit::replay
