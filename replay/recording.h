#pragma once
// A session's terminal stream, ready to play: the output, resize and gap frames in time order
// (input is never drawn: what was typed appears through the terminal's echo, and input read with
// ECHO off must stay hidden), its commands on the same time axis, and where data was lost. Times
// are microseconds since the session's start.
// A loaded recording holds the index of its frames (times, sizes, where each frame's bytes are in
// which stored chunk), not the bytes: data() reads a chunk from the database when a frame of it is
// played and keeps the last few, so memory stays flat however long the session (issue 12).

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
    static constexpr uint32_t kInMemory = UINT32_MAX;
    uint64_t offset_us = 0;
    storage::FrameKind kind = storage::FrameKind::output;  ///< output, resize or gap
    uint32_t chunk = kInMemory;  ///< output: the stored chunk (an index into the recording's chunks) holding its bytes
    uint64_t data_pos = 0;  ///< output: where its bytes are in that chunk's frames (or in the recording's memory)
    uint32_t data_len = 0;
    uint32_t rows = 0, cols = 0;  ///< resize
};

/// Where the recording has a hole: the kernel lost events, or stored data could not be read.
struct Gap {
    uint64_t offset_us = 0;
    uint64_t lost_events = 0;
    uint64_t lost_bytes = 0;
    std::string damage;  ///< not empty: the stored chunk was damaged (why), not a kernel loss
    storage::GapCause cause = storage::GapCause::kernel;
    bool recorder_gap = false;        ///< no recorder followed the session from offset_us...
    uint64_t recorder_gap_until_us = 0;  ///< ...until here
};

/// How a recorder gap reads: "the recorder was not following this session between +A and +B".
std::string describe_recorder_gap(const Gap& gap);

/// A command as the player shows it: a session has them by the hundred thousand, so each keeps
/// what the timeline draws, not its stored record (`show` has the rest), and its text is in one
/// buffer of the recording's (Recording::argv_text): 40 bytes and the text a command.
struct TimedCommand {
    static constexpr size_t kMaxArgvText = 512;  ///< more than any timeline row shows
    uint64_t offset_us = 0;
    uint64_t text_at = 0;  ///< its argv text in the recording's buffer
    uint32_t text_size = 0;
    uint32_t seq = 0;
    std::optional<int32_t> retval;  ///< nullopt: the result record was lost
    bool argv_truncated = false;    ///< the recorded argv, or its text, was cut
};

/// argv joined as the timeline shows it: terminal-safe, at most kMaxArgvText bytes (whole
/// characters); `truncated` when some of it did not fit.
std::string timeline_argv_text(const std::vector<std::string>& argv, bool& truncated);

class Recording {
public:
    /// An empty recording at a geometry (tests build sessions with the add_* calls).
    explicit Recording(storage::SessionRecord session = {});

    /// Reads a session's commands and indexes its chunks (each is read once, then dropped). A
    /// damaged chunk becomes a Gap and playback goes on with the next one; an error only when the
    /// database cannot be read at all. `store` must outlive the recording: data() reads from it.
    /// `with_commands` false: the screen only (`play --cat`), without the session's commands, which
    /// a long session has by the hundred thousand.
    static std::expected<Recording, std::string> load(storage::SessionReader& store, const storage::SessionRecord& session,
                                                      bool with_commands = true);

    void add_output(uint64_t offset_us, std::string_view bytes);
    void add_resize(uint64_t offset_us, uint32_t rows, uint32_t cols);
    void add_gap(Gap gap);
    void add_command(uint64_t offset_us, const storage::CommandRecord& command);
    /// Decodes one stored chunk; false (with the reason in `error`) when it is damaged.
    bool add_chunk(const storage::ChunkRecord& chunk, std::string& error);

    const storage::SessionRecord& session() const { return session_; }
    const std::vector<PlayFrame>& frames() const { return frames_; }
    /// An output frame's bytes; the view stays valid until the next call. Reading a stored chunk
    /// that can no longer be read (the database changed under the player) gives no bytes.
    std::string_view data(const PlayFrame& f) const;
    const std::vector<TimedCommand>& commands() const { return commands_; }
    /// A command's argv as the timeline shows it (timeline_argv_text).
    std::string_view argv_text(const TimedCommand& c) const { return std::string_view(command_text_).substr(c.text_at, c.text_size); }
    const std::vector<Gap>& gaps() const { return gaps_; }
    uint64_t output_bytes() const { return output_bytes_; }
    /// Bytes of stored chunks held in memory right now (bounded: a few chunks).
    size_t cached_bytes() const;

    /// The geometry the session started with (24x80 when none was recorded).
    int initial_rows() const;
    int initial_cols() const;
    /// The session's length: its end, or its last frame or command when later (or still open).
    uint64_t duration_us() const;

private:
    struct CachedChunk {
        uint32_t chunk = 0;
        std::string frames_data;
    };
    /// The stored chunk's index entry: read `chunk_seqs_[chunk]` from the store, in pieces of
    /// [pos, pos + len) per frame.
    void add_stored_output(uint64_t offset_us, uint32_t chunk, uint64_t pos, uint32_t len);
    /// Decodes a stored chunk: its frames and gaps in time order, or the reason it is damaged.
    /// `chunk` is kInMemory to copy the bytes in (add_chunk), else where data() will find them.
    bool decode(const storage::ChunkRecord& chunk, uint32_t stored, std::string& error);

    storage::SessionRecord session_;
    std::string output_;  // bytes added with add_output / add_chunk
    uint64_t output_bytes_ = 0;
    storage::SessionReader* store_ = nullptr;  // where the stored chunks are read from (load)
    std::vector<uint32_t> chunk_seqs_;
    mutable std::vector<CachedChunk> cache_;  // most recently used last
    std::vector<PlayFrame> frames_;
    std::vector<TimedCommand> commands_;
    std::string command_text_;  // every command's argv text, one after another
    std::vector<Gap> gaps_;
    uint64_t last_us_ = 0;
};

/// A command's place on the session's time axis.
uint64_t command_offset_us(const storage::SessionRecord& session, const storage::CommandRecord& command);

}  // namespace execaudit::replay
