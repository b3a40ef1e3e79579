// Keyframes must be exact: the screen after any seek, in any order, is the screen playing from
// the start to that point shows, cell for cell, cursor included.
#include "replay/keyframed_screen.h"
#include "replay/vterm_arena.h"
#include "tests/replay/screen_dump.h"
#include "tests/replay/session_generator.h"

#include <gtest/gtest.h>

#include <random>

using namespace execaudit;
using execaudit::testing::dump_screen;
using execaudit::testing::random_session;

namespace {

// What the screen shows after playing frames [0, end) on a fresh emulator.
std::string played_from_start(const replay::Recording& rec, size_t end) {
    replay::TerminalScreen s(rec.initial_rows(), rec.initial_cols());
    for (size_t i = 0; i < end; ++i) {
        const auto& f = rec.frames()[i];
        if (f.kind == storage::FrameKind::output) s.feed(rec.data(f));
        else s.resize(static_cast<int>(f.rows), static_cast<int>(f.cols));
    }
    return dump_screen(s);
}

TEST(TerminalScreenSnapshot, RestoresEverythingTheEmulatorKeeps) {
    replay::TerminalScreen s(6, 20);
    // hidden state at the snapshot: a scroll region, the alternate screen, a pen, a charset,
    // a saved cursor and an escape sequence cut in half
    s.feed("first\r\n\x1b[2;4r\x1b[?1049h\x1b[1;32m\x1b(0\x1b[3;3H\x1b" "7\x1b[1");
    auto snap = s.snapshot();
    std::string before = dump_screen(s);
    const std::string rest = ";5Hqqq\x1b" "8x\r\n\r\n\r\n\r\nscrolled\x1b[?1049lback";

    s.feed(rest);
    std::string continued = dump_screen(s);
    s.feed("\x1b" "cother things entirely\x1b[?1049h");
    s.resize(30, 100);
    ASSERT_TRUE(s.restore(snap));
    EXPECT_EQ(dump_screen(s), before);
    s.feed(rest);  // the same bytes act the same way: the hidden state came back too
    EXPECT_EQ(dump_screen(s), continued);
    EXPECT_EQ(s.rows(), 6);
    EXPECT_EQ(s.cols(), 20);
}

TEST(TerminalScreenSnapshot, OnlyItsOwnScreenTakesIt) {
    replay::TerminalScreen a(5, 10), b(5, 10);
    a.feed("from a");
    b.feed("from b");
    EXPECT_FALSE(b.restore(a.snapshot()));
    EXPECT_EQ(b.text().at(0), "from b");
    auto bad = b.snapshot();
    bad.image.resize(bad.image.size() / 2);  // not an image of this arena any more
    EXPECT_FALSE(b.restore(bad));
    EXPECT_EQ(b.text().at(0), "from b");
}

TEST(TerminalScreenSnapshot, ImageShrinksBackAfterAHugeResize) {
    replay::TerminalScreen s(24, 80);
    size_t small = s.snapshot().image.size();
    s.resize(1000, 2000);  // a hostile session asks for a screen of two million cells
    EXPECT_GT(s.snapshot().image.size(), 100 * small);
    s.resize(24, 80);
    EXPECT_LT(s.snapshot().image.size(), 2 * small + 65536) << "freed screens stay in every keyframe";
}

TEST(VtermArena, FirstFitReusesAndMergesFreedBlocks) {
    replay::VtermArena arena(1 << 20);
    size_t empty = arena.image_size();
    void* a = arena.allocate(1000);
    void* b = arena.allocate(1000);
    void* c = arena.allocate(1000);
    ASSERT_TRUE(a && b && c);
    size_t full = arena.image_size();
    arena.release(a);
    arena.release(b);  // merges with a
    void* d = arena.allocate(1800);  // fits in a+b
    EXPECT_EQ(d, a);
    EXPECT_LE(arena.image_size(), full);  // reused, not appended
    for (size_t i = 0; i < 1800; ++i) ASSERT_EQ(static_cast<char*>(d)[i], 0) << "not zeroed at " << i;
    arena.release(c);
    arena.release(d);
    EXPECT_EQ(arena.image_size(), empty);
    EXPECT_EQ(arena.allocate(2 << 20), nullptr);  // past the reservation: refused, not a crash

    // an image round-trips, and a damaged one is refused without touching the arena
    void* e = arena.allocate(100);
    static_cast<char*>(e)[5] = 'x';
    std::string image;
    arena.save(image);
    static_cast<char*>(e)[5] = 'y';
    ASSERT_TRUE(arena.restore(image));
    EXPECT_EQ(static_cast<char*>(e)[5], 'x');
    static_cast<char*>(e)[5] = 'z';
    for (size_t cut : {size_t{0}, size_t{8}, image.size() - 1}) EXPECT_FALSE(arena.restore(image.substr(0, cut)));
    std::string longer = image + "junk";
    EXPECT_FALSE(arena.restore(longer));
    EXPECT_EQ(static_cast<char*>(e)[5], 'z');
}

TEST(KeyframedScreen, EverySeekEqualsPlayingFromTheStart) {
    for (unsigned seed : {1u, 2u, 3u}) {
        auto rec = random_session(seed, 3000);
        replay::KeyframedScreen ks(rec, {.keyframe_bytes = 512, .keyframe_frames = 50});
        std::mt19937 rng(seed);
        size_t n = rec.frames().size();
        ASSERT_GT(n, 500u);
        for (int i = 0; i < 60; ++i) {
            size_t target = rng() % (n + 1);
            ks.go_to(target);
            ASSERT_EQ(ks.applied(), target);
            ASSERT_EQ(dump_screen(ks.screen()), played_from_start(rec, target)) << "seed " << seed << " frame " << target;
        }
        EXPECT_GT(ks.keyframes(), 20u) << "the test must cross keyframes";
    }
}

TEST(KeyframedScreen, IndexingInSlicesLeavesTheScreenAlone) {
    auto rec = random_session(7, 4000);
    replay::KeyframedScreen ks(rec, {.keyframe_bytes = 1024, .keyframe_frames = 100});
    ks.go_to(rec.frames().size() / 3);
    std::string shown = dump_screen(ks.screen());
    uint64_t generation = ks.generation();
    size_t keyframes_before = ks.keyframes();
    // a zero budget: each call indexes exactly one step (one keyframe further), whatever the
    // machine's speed
    size_t slices = 0;
    while (!ks.index_some(std::chrono::microseconds(0))) ++slices;
    EXPECT_GT(slices, 1u) << "indexed in slices, not at once";
    EXPECT_EQ(slices, ks.keyframes() - keyframes_before) << "one keyframe per slice";
    EXPECT_TRUE(ks.indexed());
    EXPECT_EQ(dump_screen(ks.screen()), shown);
    EXPECT_EQ(ks.generation(), generation);  // nothing to redraw
    // and the index it built is right
    ks.go_to(rec.frames().size());
    EXPECT_EQ(dump_screen(ks.screen()), played_from_start(rec, rec.frames().size()));
    ks.go_to(5);
    EXPECT_EQ(dump_screen(ks.screen()), played_from_start(rec, 5));
}

TEST(KeyframedScreen, KeyframesAreSpacedByOutputAndKeptCompressed) {
    // 400 KB of output in 4 KB writes; keyframes every 32 KB
    replay::Recording rec;
    for (int i = 0; i < 100; ++i) rec.add_output(static_cast<uint64_t>(i) * 1000, std::string(4096, static_cast<char>('a' + i % 26)));
    replay::KeyframedScreen ks(rec, {.keyframe_bytes = 32 * 1024, .keyframe_frames = 20000});
    ks.go_to(100);
    EXPECT_EQ(ks.keyframes(), 13u);  // frames 0, 8, 16, ... 96
    EXPECT_LT(ks.keyframe_memory(), 13u * 20000u) << "keyframes are kept compressed";
}

}  // namespace

namespace {

// Hostile sessions of every shape must never crash the emulator: libvterm 0.1.4 did on a third
// of these before TerminalScreen kept the cursor on the screen and dropped insert mode.
TEST(TerminalScreen, RandomHostileSessionsNeverCrashIt) {
    for (unsigned seed = 0; seed < 150; ++seed) {
        auto rec = random_session(seed, 2000, 4 + seed % 30, 10 + seed % 90);
        replay::TerminalScreen s(rec.initial_rows(), rec.initial_cols());
        for (const auto& f : rec.frames()) {
            if (f.kind == storage::FrameKind::output) s.feed(rec.data(f));
            else s.resize(static_cast<int>(f.rows), static_cast<int>(f.cols));
            ASSERT_GE(s.cursor_row(), 0) << "seed " << seed;
            ASSERT_LT(s.cursor_row(), s.rows()) << "seed " << seed;
        }
    }
}

// A seek into the unindexed part plays up to the target, not on to the next keyframe point.
TEST(KeyframedScreen, ASeekNeverPlaysPastItsTarget) {
    replay::Recording rec;
    for (int i = 0; i < 100; ++i) rec.add_output(static_cast<uint64_t>(i) * 1000, std::string(4096, static_cast<char>('a' + i % 26)));
    replay::KeyframedScreen ks(rec, {.keyframe_bytes = 32 * 1024, .keyframe_frames = 20000});  // every 8 frames
    ks.go_to(5);
    EXPECT_EQ(ks.keyframes(), 1u) << "built the keyframe at frame 8";
    EXPECT_EQ(dump_screen(ks.screen()), played_from_start(rec, 5));
    ks.go_to(20);
    EXPECT_EQ(ks.keyframes(), 3u);  // 0, 8, 16: not 24
    EXPECT_EQ(ks.applied(), 20u);
    EXPECT_EQ(dump_screen(ks.screen()), played_from_start(rec, 20));
    ks.go_to(24);  // exactly a keyframe point: kept
    EXPECT_EQ(ks.keyframes(), 4u);
    EXPECT_EQ(dump_screen(ks.screen()), played_from_start(rec, 24));
    ks.go_to(3);
    EXPECT_EQ(dump_screen(ks.screen()), played_from_start(rec, 3));
    while (!ks.index_some(std::chrono::seconds(1))) {
    }
    EXPECT_EQ(ks.keyframes(), 13u);  // the same index as building it in one go
    ks.go_to(100);
    EXPECT_EQ(dump_screen(ks.screen()), played_from_start(rec, 100));
}

}  // namespace

namespace {

// Memory stays flat for a long session: however much output, at most about max_keyframes
// keyframes (each spacing grows), and seeks stay exact.
TEST(KeyframedScreen, KeyframesAreBoundedInNumberForALongSession) {
    replay::Recording rec;
    for (int i = 0; i < 4000; ++i)
        rec.add_output(static_cast<uint64_t>(i) * 1000, "line " + std::to_string(i) + std::string(200, static_cast<char>('a' + i % 26)) + "\r\n");
    replay::KeyframedScreen ks(rec, {.keyframe_bytes = 1024, .keyframe_frames = 20000, .max_keyframes = 50});
    while (!ks.index_some(std::chrono::seconds(1))) {
    }
    EXPECT_LE(ks.keyframes(), 51u) << "without the bound: one every 1 KB, 800 of them";
    EXPECT_GE(ks.keyframes(), 40u) << "spaced evenly, not dropped";
    EXPECT_GE(ks.keyframe_bytes(), rec.output_bytes() / 50);
    for (size_t target : {size_t{3999}, size_t{17}, size_t{2345}, size_t{4000}}) {
        ks.go_to(target);
        EXPECT_EQ(dump_screen(ks.screen()), played_from_start(rec, target)) << target;
    }
}

}  // namespace
