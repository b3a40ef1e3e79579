#pragma once
// The on-disk form of a session's terminal stream: a chunk is a run of frames, each
//
//   varint delta_us     time since the previous frame of the chunk (the first: since the
//                       chunk's first_offset_us, so 0)
//   varint kind_len     payload length << 3 | kind
//   payload
//
// Kinds (frozen; append only): 0 output bytes, 1 input bytes, 2 input read with ECHO off,
// 3 resize (varint rows, varint cols), 4 gap (varint lost_events, varint lost_bytes, and
// optionally varint cause: GapCause, absent = kernel),
// 5 kernel echo (the bytes the tty echoed of a line read with ECHO on, reconstructed by the
// recorder: no tracepoint sees the echo itself; decoded as output with `reconstructed` set),
// 6 masked input (varint byte count: a password typed with ECHO off, not kept; decoded as
// input_echo_off with no data and `masked_bytes` set),
// 7 extended (varint subkind, then the subkind's payload; a subkind this build does not know is
// skipped). Subkinds: 0 recorder gap (varint until_delta_us: no recorder followed the session
// from this frame's time until that much later, because it was killed or the session is older
// than the first recorder; decoded as a gap of 1 event with `recorder_gap_until_us` set).
// Chunks decode independently, so replay can start at any chunk.

#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <string_view>

namespace execaudit::storage {

/// Rows and columns a resize frame can hold (a tty's struct winsize has 16 bits for each).
inline constexpr uint32_t kMaxTerminalSide = 0xFFFF;

enum class FrameKind : uint8_t { output = 0, input = 1, input_echo_off = 2, resize = 3, gap = 4 };

/// Why a gap's data is missing. Stored: append only.
enum class GapCause : uint8_t {
    kernel = 0,      ///< the kernel's ring buffer was full (or the start of the record never arrived)
    uncaptured = 1,  ///< sendfile, splice, io_uring...: counted, not readable by capture
    store = 2,       ///< the database could not be written (full or read-only disk) and the queue was full
    output_cap = 3,  ///< beyond `record --max-session-output-mb`
};
/// A few words for messages: "the kernel's ring buffer was full", ...
const char* gap_cause_text(GapCause cause);

struct Frame {
    uint64_t offset_us = 0;  ///< since the session's start
    FrameKind kind = FrameKind::output;
    std::string_view data;  ///< output/input bytes
    uint32_t rows = 0, cols = 0;
    uint64_t lost_events = 0, lost_bytes = 0;
    GapCause gap_cause = GapCause::kernel;
    bool reconstructed = false;  ///< output: the tty's echo of input, drawn where the user saw it
    uint64_t masked_bytes = 0;   ///< input_echo_off: bytes typed and not kept
    /// gap: no recorder was following the session from offset_us until recorder_gap_until_us
    /// (the records of that time are missing, not counted one by one)
    bool recorder_gap = false;
    uint64_t recorder_gap_until_us = 0;
};

/// Builds one chunk. Offsets must not go backwards (they are clamped if they do).
class ChunkEncoder {
public:
    void add_bytes(uint64_t offset_us, FrameKind kind, std::string_view bytes);
    /// Output as the terminal received it when the tty maps \n to \r\n (OPOST|ONLCR): the
    /// conversion happens while appending, with no intermediate copy.
    void add_output_onlcr(uint64_t offset_us, std::string_view bytes);
    void add_resize(uint64_t offset_us, uint32_t rows, uint32_t cols);
    void add_gap(uint64_t offset_us, uint64_t lost_events, uint64_t lost_bytes, GapCause cause = GapCause::kernel);
    /// The tty's echo of a line of input (ECHO on), as the terminal showed it.
    void add_kernel_echo(uint64_t offset_us, std::string_view echoed);
    /// Input read with ECHO off in canonical mode: only how many bytes.
    void add_masked_input(uint64_t offset_us, uint64_t bytes);
    /// Nobody recorded the session from offset_us until until_us.
    void add_recorder_gap(uint64_t offset_us, uint64_t until_us);

    bool empty() const { return frames_ == 0; }
    size_t size_bytes() const { return data_.size(); }
    uint32_t frames() const { return frames_; }
    uint64_t first_offset_us() const { return first_offset_us_; }
    uint64_t last_offset_us() const { return last_offset_us_; }
    uint64_t output_bytes() const { return output_bytes_; }
    uint64_t input_bytes() const { return input_bytes_; }

    /// Returns the encoded frames and starts a new chunk.
    std::string take();

private:
    void begin_frame(uint64_t offset_us, FrameKind kind, size_t payload_len);

    std::string data_;
    uint32_t frames_ = 0;
    uint64_t first_offset_us_ = 0;
    uint64_t last_offset_us_ = 0;
    uint64_t output_bytes_ = 0;
    uint64_t input_bytes_ = 0;
};

/// Decodes a chunk, calling `on_frame` for each frame in order. Malformed data (a damaged or
/// hostile database) gives an error, never a crash.
std::expected<void, std::string> decode_chunk(std::string_view data, uint64_t first_offset_us,
                                              const std::function<void(const Frame&)>& on_frame);

}  // namespace execaudit::storage
