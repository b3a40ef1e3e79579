#include "storage/compression.h"
#include "storage/io_frames.h"

#include <gtest/gtest.h>

#include <random>

using namespace execaudit::storage;

namespace {

TEST(IoFrames, RoundTrip) {
    ChunkEncoder enc;
    enc.add_resize(100, 40, 120);
    enc.add_bytes(150, FrameKind::output, std::string("\x1b[2J\0bin", 8));
    enc.add_bytes(150, FrameKind::input, "ls\r");
    enc.add_bytes(90, FrameKind::input_echo_off, "hunter2");  // earlier offset: clamped forward
    enc.add_gap(5000, 2, 4096);
    EXPECT_EQ(enc.frames(), 5u);
    EXPECT_EQ(enc.output_bytes(), 8u);
    EXPECT_EQ(enc.input_bytes(), 10u);
    EXPECT_EQ(enc.first_offset_us(), 100u);
    EXPECT_EQ(enc.last_offset_us(), 5000u);
    std::string data = enc.take();
    EXPECT_TRUE(enc.empty());

    std::vector<Frame> frames;
    std::vector<std::string> copies;
    ASSERT_TRUE(decode_chunk(data, 100, [&](const Frame& f) {
        frames.push_back(f);
        copies.emplace_back(f.data);
    }));
    ASSERT_EQ(frames.size(), 5u);
    EXPECT_EQ(frames[0].kind, FrameKind::resize);
    EXPECT_EQ(frames[0].rows, 40u);
    EXPECT_EQ(frames[0].cols, 120u);
    EXPECT_EQ(copies[1], std::string("\x1b[2J\0bin", 8));
    EXPECT_EQ(frames[1].offset_us, 150u);
    EXPECT_EQ(frames[3].offset_us, 150u);
    EXPECT_EQ(frames[3].kind, FrameKind::input_echo_off);
    EXPECT_EQ(frames[4].kind, FrameKind::gap);
    EXPECT_EQ(frames[4].lost_events, 2u);
    EXPECT_EQ(frames[4].lost_bytes, 4096u);
    EXPECT_EQ(frames[4].offset_us, 5000u);
}

TEST(IoFrames, AGapSaysWhyAndOlderGapsReadAsTheKernels) {
    ChunkEncoder enc;
    enc.add_gap(5, 1, 100);
    enc.add_gap(6, 2, 200, GapCause::store);
    enc.add_gap(7, 3, 300, GapCause::output_cap);
    std::string data = enc.take();
    std::vector<Frame> got;
    ASSERT_TRUE(decode_chunk(data, 5, [&](const Frame& f) { got.push_back(f); }));
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].gap_cause, GapCause::kernel);
    EXPECT_EQ(got[1].gap_cause, GapCause::store);
    EXPECT_EQ(got[1].lost_bytes, 200u);
    EXPECT_EQ(got[2].gap_cause, GapCause::output_cap);
    // the first gap is byte for byte the format before causes existed: delta 0, kind_len, 1, 100
    EXPECT_EQ(data.substr(0, 4), std::string("\x00\x14\x01\x64", 4));
}

TEST(IoFrames, DamagedDataIsAnError) {
    ChunkEncoder enc;
    enc.add_bytes(0, FrameKind::output, "hello world");
    std::string data = enc.take();
    auto cut = data.substr(0, data.size() - 3);
    EXPECT_FALSE(decode_chunk(cut, 0, [](const Frame&) {}));
    // an extended frame (kind 7) whose recorder gap has bytes after its one varint
    std::string bad_kind = data;
    bad_kind[1] = static_cast<char>((11 << 3) | 7);
    bad_kind[2] = '\0';
    EXPECT_FALSE(decode_chunk(bad_kind, 0, [](const Frame&) {}));
    EXPECT_FALSE(decode_chunk(std::string(20, '\xff'), 0, [](const Frame&) {}));
}

TEST(IoFrames, ARecorderGapSaysFromWhenUntilWhen) {
    ChunkEncoder enc;
    enc.add_bytes(1'000, FrameKind::output, "before");
    enc.add_recorder_gap(2'000'000, 9'500'000);
    enc.add_bytes(9'600'000, FrameKind::output, "after");
    std::vector<Frame> frames;
    std::vector<std::string> data;
    ASSERT_TRUE(decode_chunk(enc.take(), 1'000, [&](const Frame& f) {
        frames.push_back(f);
        data.emplace_back(f.data);
    }));
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[1].kind, FrameKind::gap);
    EXPECT_TRUE(frames[1].recorder_gap);
    EXPECT_EQ(frames[1].offset_us, 2'000'000u);
    EXPECT_EQ(frames[1].recorder_gap_until_us, 9'500'000u);
    EXPECT_EQ(frames[1].lost_events, 1u);  // counted as one lost event, like the session
    EXPECT_FALSE(frames[0].recorder_gap);
    EXPECT_EQ(data[2], "after");
}

TEST(IoFrames, AnExtendedFrameOfALaterBuildIsSkipped) {
    // delta 0, kind 7 with 2 payload bytes: subkind 5 (unknown here), one byte of its own
    std::string data = std::string("\x00", 1) + static_cast<char>((2 << 3) | 7) + "\x05\x01";
    ChunkEncoder enc;
    enc.add_bytes(0, FrameKind::output, "x");
    data += enc.take();
    int frames = 0;
    EXPECT_TRUE(decode_chunk(data, 0, [&](const Frame& f) {
        ++frames;
        EXPECT_EQ(f.kind, FrameKind::output);
    }));
    EXPECT_EQ(frames, 1);
}

// Found by fuzzing (tests/fuzz/io_chunk_fuzz.cpp): the encoder wrote sizes the decoder refuses,
// so one oversized resize made the whole chunk unreadable.
TEST(IoFrames, AnOversizedResizeIsClampedNotFatalToItsChunk) {
    ChunkEncoder enc;
    enc.add_bytes(0, FrameKind::output, "before");
    enc.add_resize(10, 70000, 1u << 20);
    enc.add_bytes(20, FrameKind::output, "after");
    std::string data = enc.take();
    std::vector<std::string> seen;
    ASSERT_TRUE(decode_chunk(data, 0, [&](const Frame& f) {
        if (f.kind == FrameKind::resize) seen.push_back(std::to_string(f.rows) + "x" + std::to_string(f.cols));
        else seen.emplace_back(f.data);
    }));
    EXPECT_EQ(seen, (std::vector<std::string>{"before", "65535x65535", "after"}));
}

// A tampered chunk whose times wrap past 2^64 would put later frames before earlier ones.
TEST(IoFrames, TimesThatOverflowAreAnError) {
    std::string data;
    data += "" "a";  // delta 5, output of 1 byte
    data += std::string("ÿÿÿÿÿÿÿÿÿ", 10) + "" "b";  // delta 2^64-1
    std::vector<uint64_t> times;
    auto r = decode_chunk(data, 0, [&](const Frame& f) { times.push_back(f.offset_us); });
    EXPECT_FALSE(r);
    EXPECT_EQ(times, (std::vector<uint64_t>{5}));
}

TEST(IoFrames, RandomBytesNeverCrash) {
    std::mt19937 rng(11);
    for (int i = 0; i < 20000; ++i) {
        std::string data(rng() % 200, '\0');
        for (auto& c : data) c = static_cast<char>(rng());
        (void)decode_chunk(data, rng(), [](const Frame&) {});
    }
}

TEST(Compression, RoundTripAndHostileInput) {
    std::string raw;
    for (int i = 0; i < 5000; ++i) raw += "line " + std::to_string(i) + "\r\n";
    ZstdCompressor compressor;
    auto compressed = compressor.compress(raw, 1);
    ASSERT_TRUE(compressed);
    std::string packed(*compressed);
    EXPECT_LT(packed.size(), raw.size() / 3);
    auto back = zstd_decompress(packed, raw.size());
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, raw);
    EXPECT_FALSE(zstd_decompress(packed, raw.size() - 1));           // wrong size recorded
    EXPECT_FALSE(zstd_decompress(packed, size_t{1} << 40));          // absurd size: refused, no allocation
    EXPECT_FALSE(zstd_decompress("not zstd at all", 100));
}

}  // namespace
