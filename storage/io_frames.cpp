#include "storage/io_frames.h"

#include <fmt/format.h>

#include <algorithm>

namespace execaudit::storage {
namespace {

void put_varint(std::string& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7F) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

bool get_varint(std::string_view data, size_t& pos, uint64_t& out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && pos < data.size(); shift += 7) {
        auto byte = static_cast<uint8_t>(data[pos++]);
        v |= static_cast<uint64_t>(byte & 0x7F) << shift;
        if (!(byte & 0x80)) {
            out = v;
            return true;
        }
    }
    return false;
}

size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, ++n;
    return n;
}

}  // namespace

void ChunkEncoder::begin_frame(uint64_t offset_us, FrameKind kind, size_t payload_len) {
    if (frames_ == 0) {
        first_offset_us_ = offset_us;
        last_offset_us_ = offset_us;
    }
    offset_us = std::max(offset_us, last_offset_us_);
    put_varint(data_, offset_us - last_offset_us_);
    put_varint(data_, (static_cast<uint64_t>(payload_len) << 3) | static_cast<uint8_t>(kind));
    last_offset_us_ = offset_us;
    ++frames_;
}

void ChunkEncoder::add_bytes(uint64_t offset_us, FrameKind kind, std::string_view bytes) {
    begin_frame(offset_us, kind, bytes.size());
    data_.append(bytes);
    (kind == FrameKind::output ? output_bytes_ : input_bytes_) += bytes.size();
}

void ChunkEncoder::add_output_onlcr(uint64_t offset_us, std::string_view bytes) {
    size_t newlines = static_cast<size_t>(std::count(bytes.begin(), bytes.end(), '\n'));
    output_bytes_ += bytes.size();  // as written by the process, like the session's counters
    begin_frame(offset_us, FrameKind::output, bytes.size() + newlines);
    for (size_t nl; (nl = bytes.find('\n')) != std::string_view::npos; bytes.remove_prefix(nl + 1)) {
        data_.append(bytes.data(), nl);
        data_ += "\r\n";
    }
    data_.append(bytes);
}

void ChunkEncoder::add_resize(uint64_t offset_us, uint32_t rows, uint32_t cols) {
    // a tty's size is 16 bits (struct winsize) and the decoder refuses more: keep the two in step
    rows = std::min<uint32_t>(rows, kMaxTerminalSide);
    cols = std::min<uint32_t>(cols, kMaxTerminalSide);
    begin_frame(offset_us, FrameKind::resize, varint_size(rows) + varint_size(cols));
    put_varint(data_, rows);
    put_varint(data_, cols);
}

const char* gap_cause_text(GapCause cause) {
    switch (cause) {
        case GapCause::kernel: return "the kernel's ring buffer was full";
        case GapCause::uncaptured: return "they moved by sendfile, splice or io_uring, which capture counts but cannot read";
        case GapCause::store: return "the database could not be written (disk full or read-only)";
        case GapCause::output_cap: return "the session went past --max-session-output-mb";
    }
    return "unknown cause";
}

void ChunkEncoder::add_gap(uint64_t offset_us, uint64_t lost_events, uint64_t lost_bytes, GapCause cause) {
    auto c = static_cast<uint8_t>(cause);
    // the cause is left out when it is the original meaning, so older readers see the same bytes
    begin_frame(offset_us, FrameKind::gap, varint_size(lost_events) + varint_size(lost_bytes) + (c ? varint_size(c) : 0));
    put_varint(data_, lost_events);
    put_varint(data_, lost_bytes);
    if (c) put_varint(data_, c);
}

void ChunkEncoder::add_kernel_echo(uint64_t offset_us, std::string_view echoed) {
    begin_frame(offset_us, static_cast<FrameKind>(5), echoed.size());
    data_.append(echoed);  // not process output: the session's output_bytes do not grow
}

void ChunkEncoder::add_masked_input(uint64_t offset_us, uint64_t bytes) {
    begin_frame(offset_us, static_cast<FrameKind>(6), varint_size(bytes));
    put_varint(data_, bytes);
    input_bytes_ += bytes;
}

void ChunkEncoder::add_recorder_gap(uint64_t offset_us, uint64_t until_us) {
    offset_us = std::max(offset_us, frames_ ? last_offset_us_ : offset_us);
    uint64_t delta = until_us > offset_us ? until_us - offset_us : 0;
    begin_frame(offset_us, static_cast<FrameKind>(7), varint_size(0) + varint_size(delta));
    put_varint(data_, 0);  // subkind: recorder gap
    put_varint(data_, delta);
}

std::string ChunkEncoder::take() {
    std::string out = std::move(data_);
    *this = ChunkEncoder();
    return out;
}

std::expected<void, std::string> decode_chunk(std::string_view data, uint64_t first_offset_us,
                                              const std::function<void(const Frame&)>& on_frame) {
    size_t pos = 0;
    uint64_t offset = first_offset_us;
    while (pos < data.size()) {
        uint64_t delta, kind_len;
        if (!get_varint(data, pos, delta) || !get_varint(data, pos, kind_len))
            return std::unexpected(fmt::format("truncated frame header at byte {}", pos));
        uint64_t len = kind_len >> 3;
        auto kind = static_cast<uint8_t>(kind_len & 7);
        if (len > data.size() - pos)
            return std::unexpected(fmt::format("frame at byte {} claims {} bytes, {} remain", pos, len, data.size() - pos));
        if (delta > UINT64_MAX - offset) return std::unexpected(fmt::format("frame at byte {}: its time overflows", pos));
        offset += delta;
        Frame f;
        f.offset_us = offset;
        std::string_view payload = data.substr(pos, len);
        pos += len;
        switch (kind) {
            case 0:
            case 1:
            case 2:
                f.kind = static_cast<FrameKind>(kind);
                f.data = payload;
                break;
            case 3: {
                size_t p = 0;
                uint64_t rows, cols;
                if (!get_varint(payload, p, rows) || !get_varint(payload, p, cols) || rows > kMaxTerminalSide || cols > kMaxTerminalSide)
                    return std::unexpected("malformed resize frame");
                f.kind = FrameKind::resize;
                f.rows = static_cast<uint32_t>(rows);
                f.cols = static_cast<uint32_t>(cols);
                break;
            }
            case 4: {
                size_t p = 0;
                if (!get_varint(payload, p, f.lost_events) || !get_varint(payload, p, f.lost_bytes))
                    return std::unexpected("malformed gap frame");
                uint64_t cause = 0;
                if (p < payload.size() && get_varint(payload, p, cause) && cause <= static_cast<uint8_t>(GapCause::output_cap))
                    f.gap_cause = static_cast<GapCause>(cause);
                f.kind = FrameKind::gap;
                break;
            }
            case 5:
                f.kind = FrameKind::output;
                f.reconstructed = true;
                f.data = payload;
                break;
            case 6: {
                size_t p = 0;
                if (!get_varint(payload, p, f.masked_bytes) || p != payload.size()) return std::unexpected("malformed masked input frame");
                f.kind = FrameKind::input_echo_off;
                break;
            }
            case 7: {
                size_t p = 0;
                uint64_t subkind;
                if (!get_varint(payload, p, subkind)) return std::unexpected("malformed extended frame");
                if (subkind != 0) continue;  // a later build's: nothing this one can show
                uint64_t delta;
                if (!get_varint(payload, p, delta) || p != payload.size() || delta > UINT64_MAX - offset)
                    return std::unexpected("malformed recorder gap frame");
                f.kind = FrameKind::gap;
                f.lost_events = 1;
                f.recorder_gap = true;
                f.recorder_gap_until_us = offset + delta;
                break;
            }
            default:
                return std::unexpected(fmt::format("unknown frame kind {}", kind));
        }
        on_frame(f);
    }
    return {};
}

}  // namespace execaudit::storage
