#pragma once
// A session's terminal stream in memory, ready to play: the output, resize and gap frames in
// time order (input is never drawn: what was typed appears through the terminal's echo, and
// input read with ECHO off must stay hidden), its commands on the same time axis, and where
// data was lost. Times are microseconds since the session's start.

#include "storage/io_frames.h"
#include "storage/records.h"
#include "storage/session_store.h"

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::replay {

struct PlayFrame {
    uint64_t offset_us = 0;
    storage::FrameKind kind = storage::FrameKind::output;  ///< output, resize or gap
    uint64_t data_pos = 0;  ///< output: where its bytes are in the recording
    uint32_t data_len = 0;
    uint32_t rows = 0, cols = 0;  ///< resize
};

/// Where the recording has a hole: the kernel lost events, or stored data could not be read.
struct Gap {
    uint64_t offset_us = 0;
    uint64_t lost_events = 0;
    uint64_t lost_bytes = 0;
    std::string damage;  ///< not empty: the stored chunk was damaged (why), not a kernel loss
};

struct TimedCommand {
    uint64_t offset_us = 0;
    storage::CommandRecord record;
};

class Recording {
public:
    /// An empty recording at a geometry (tests build sessions with the add_* calls).
    explicit Recording(storage::SessionRecord session = {});

    /// Reads a session's chunks and commands. A damaged chunk becomes a Gap and playback goes
    /// on with the next one; an error only when the database cannot be read at all.
    static std::expected<Recording, std::string> load(storage::SessionStore& store, const storage::SessionRecord& session);

    void add_output(uint64_t offset_us, std::string_view bytes);
    void add_resize(uint64_t offset_us, uint32_t rows, uint32_t cols);
    void add_gap(Gap gap);
    void add_command(uint64_t offset_us, storage::CommandRecord command);
    /// Decodes one stored chunk; false (with the reason in `error`) when it is damaged.
    bool add_chunk(const storage::ChunkRecord& chunk, std::string& error);

    const storage::SessionRecord& session() const { return session_; }
    const std::vector<PlayFrame>& frames() const { return frames_; }
    std::string_view data(const PlayFrame& f) const { return std::string_view(output_).substr(f.data_pos, f.data_len); }
    const std::vector<TimedCommand>& commands() const { return commands_; }
    const std::vector<Gap>& gaps() const { return gaps_; }
    uint64_t output_bytes() const { return output_.size(); }

    /// The geometry the session started with (24x80 when none was recorded).
    int initial_rows() const;
    int initial_cols() const;
    /// The session's length: its end, or its last frame or command when later (or still open).
    uint64_t duration_us() const;

private:
    storage::SessionRecord session_;
    std::string output_;
    std::vector<PlayFrame> frames_;
    std::vector<TimedCommand> commands_;
    std::vector<Gap> gaps_;
    uint64_t last_us_ = 0;
};

/// A command's place on the session's time axis.
uint64_t command_offset_us(const storage::SessionRecord& session, const storage::CommandRecord& command);

}  // namespace execaudit::replay
