// libFuzzer target: a stored terminal chunk (storage/io_frames), which a damaged or tampered
// database can hold in any shape. Also a round trip: frames built from the input, encoded, must
// decode to exactly the same frames.
#include "storage/io_frames.h"
#include "tests/fuzz/fuzz_check.h"

#include <algorithm>
#include <string>
#include <vector>

using namespace execaudit;
using storage::FrameKind;

namespace {

struct Expected {
    uint64_t offset_us;
    FrameKind kind;
    std::string data;
    uint64_t a, b;
    bool recorder_gap = false;
};

void round_trip(std::string_view text) {
    storage::ChunkEncoder enc;
    std::vector<Expected> want;
    uint64_t t = 0;
    for (auto part : fuzz::split_ff(text)) {
        if (part.empty()) continue;
        auto op = static_cast<uint8_t>(part[0]);
        t += op >> 3;
        std::string_view body = part.substr(1);
        uint64_t a = body.size() >= 1 ? static_cast<uint8_t>(body[0]) * 977u : 0;
        uint64_t b = body.size() >= 2 ? static_cast<uint8_t>(body[1]) * 131071u : 0;
        switch (op & 7) {
        case 0: case 1: case 2:
            enc.add_bytes(t, static_cast<FrameKind>(op & 7), body);
            want.push_back({t, static_cast<FrameKind>(op & 7), std::string(body), 0, 0});
            break;
        case 3:
            enc.add_resize(t, static_cast<uint32_t>(a), static_cast<uint32_t>(b));
            want.push_back({t, FrameKind::resize, {}, std::min<uint64_t>(a, storage::kMaxTerminalSide),
                            std::min<uint64_t>(b, storage::kMaxTerminalSide)});
            break;
        case 7:
            enc.add_recorder_gap(t, t + a);
            want.push_back({t, FrameKind::gap, {}, t + a, 1, true});
            break;
        default:
            enc.add_gap(t, a, b);
            want.push_back({t, FrameKind::gap, {}, a, b});
        }
    }
    if (enc.empty()) return;
    std::string chunk = enc.take();
    size_t i = 0;
    auto decoded = storage::decode_chunk(chunk, want.front().offset_us, [&](const storage::Frame& f) {
        fuzz::check(i < want.size(), "more frames decoded than encoded");
        const auto& w = want[i++];
        fuzz::check(f.kind == w.kind && f.offset_us == w.offset_us, "frame kind or time changed in a round trip");
        if (w.kind == FrameKind::resize) fuzz::check(f.rows == w.a && f.cols == w.b, "resize changed in a round trip");
        else if (w.recorder_gap)
            fuzz::check(f.recorder_gap && f.recorder_gap_until_us == w.a && f.lost_events == w.b,
                        "recorder gap changed in a round trip");
        else if (w.kind == FrameKind::gap)
            fuzz::check(!f.recorder_gap && f.lost_events == w.a && f.lost_bytes == w.b, "gap changed in a round trip");
        else fuzz::check(f.data == w.data, "bytes changed in a round trip");
    });
    fuzz::check(decoded.has_value(), "an encoded chunk does not decode");
    fuzz::check(i == want.size(), "fewer frames decoded than encoded");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string copy(fuzz::as_text(data, size));  // exact-size heap copy: ASan sees overreads
    uint64_t last = 0;
    (void)storage::decode_chunk(copy, 0, [&](const storage::Frame& f) {
        fuzz::check(f.offset_us >= last, "decoded frame times go backwards");
        last = f.offset_us;
        fuzz::check(fuzz::within(f.data, copy), "frame bytes outside the chunk");
        if (f.recorder_gap) fuzz::check(f.recorder_gap_until_us >= f.offset_us, "a recorder gap ends before it starts");
    });
    round_trip(copy);
    return 0;
}
