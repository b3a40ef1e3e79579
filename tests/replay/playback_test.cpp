// The player's model: clock, speed, idle compression, seeking, commands, search.
#include "replay/playback.h"
#include "storage/database.h"
#include "storage/session_store.h"
#include "tests/support/environment.h"
#include "tests/support/stored_sessions.h"
#include "tests/replay/screen_dump.h"
#include "tests/replay/session_generator.h"

#include <gtest/gtest.h>

using namespace execaudit;
using execaudit::testing::dump_screen;

namespace {

constexpr uint64_t kSec = 1'000'000;

storage::CommandRecord command(std::vector<std::string> argv, int32_t retval = 0) {
    storage::CommandRecord c;
    c.argv = std::move(argv);
    c.retval = retval;
    return c;
}

// A shell session: a prompt, three commands with their output, a long pause before the last.
replay::Recording shell_session() {
    storage::SessionRecord s;
    s.rows = 10;
    s.cols = 40;
    s.start_ns = 1'000'000'000'000'000'000;
    s.end_ns = s.start_ns + 100'000'000'000;  // 100 s
    replay::Recording rec(s);
    rec.add_output(0, "$ ");
    rec.add_output(1 * kSec, "ls\r\n");
    rec.add_command(1 * kSec + 100, command({"ls"}));
    rec.add_output(1 * kSec + 2000, "a.txt  b.txt\r\n$ ");
    rec.add_output(3 * kSec, "cat a.txt\r\n");
    rec.add_command(3 * kSec + 100, command({"cat", "a.txt"}));
    rec.add_output(3 * kSec + 900, "the secret-ingredient is salt\r\n$ ");
    rec.add_output(90 * kSec, "./run\r\n");  // after a pause of 87 s
    rec.add_command(90 * kSec + 50, command({"./run"}, -13));
    rec.add_output(90 * kSec + 80, "bash: ./run: Permission denied\r\n$ ");
    return rec;
}

TEST(Playback, StartsAtTheBeginningPaused) {
    auto rec = shell_session();
    replay::Playback p(rec, {});
    EXPECT_EQ(p.position_us(), 0u);
    EXPECT_EQ(p.duration_us(), 100 * kSec);
    EXPECT_FALSE(p.playing());
    EXPECT_EQ(p.screen().text(), std::vector<std::string>{"$"});
    p.advance(5 * kSec);  // paused: the clock does not move
    EXPECT_EQ(p.position_us(), 0u);
}

TEST(Playback, PlaysAtItsSpeed) {
    auto rec = shell_session();
    replay::Playback p(rec, {.speed = 2.0});
    p.set_playing(true);
    p.advance(600'000);  // 1.2 s of session time
    EXPECT_EQ(p.position_us(), 1200'000u);
    EXPECT_EQ(p.screen().row_text(0), "$ ls");
    EXPECT_EQ(p.screen().row_text(1), "a.txt  b.txt");  // printed at 1.002 s
    EXPECT_EQ(p.current_command(), 0u);
    p.faster();
    EXPECT_EQ(p.speed(), 4.0);
    for (int i = 0; i < 10; ++i) p.faster();
    EXPECT_EQ(p.speed(), 16.0);
    for (int i = 0; i < 10; ++i) p.slower();
    EXPECT_EQ(p.speed(), 0.25);
    p.set_speed(100);
    EXPECT_EQ(p.speed(), 16.0);
}

TEST(Playback, IdleCompressionShortensTheLongPause) {
    auto rec = shell_session();
    replay::Playback p(rec, {.idle_limit_us = 2 * kSec});
    p.seek(3 * kSec + 900);
    p.set_playing(true);
    p.advance(1 * kSec);
    EXPECT_EQ(p.position_us(), 4 * kSec + 900);
    p.advance(1 * kSec);  // the 2 s limit is reached: the clock jumps to the next event
    EXPECT_EQ(p.position_us(), 90 * kSec);
    EXPECT_NE(p.screen().text().back().find("./run"), std::string::npos);

    // without it, the same wall time leaves us deep in the pause
    replay::Playback q(rec, {.idle_compression = false});
    q.seek(3 * kSec + 900);
    q.set_playing(true);
    q.advance(2 * kSec);
    EXPECT_EQ(q.position_us(), 5 * kSec + 900);
    q.set_idle_compression(true);  // toggling keeps the position
    EXPECT_EQ(q.position_us(), 5 * kSec + 900);
    q.advance(1 * kSec);  // the rest of the pause is cut: on to the next event and beyond
    EXPECT_EQ(q.position_us(), 91 * kSec);
}

TEST(Playback, TellsTheUiHowLongToSleep) {
    auto rec = shell_session();
    replay::Playback p(rec, {.speed = 2.0});
    EXPECT_FALSE(p.real_us_until_next_event());  // paused
    p.set_playing(true);
    EXPECT_EQ(p.real_us_until_next_event(), 500'000u);  // next event at 1 s, at twice the speed
    p.seek(3 * kSec + 900);
    EXPECT_EQ(p.real_us_until_next_event(), 1 * kSec);  // the pause plays as 2 s, at 2x
}

TEST(Playback, StopsAtTheEndAndRestartsFromTheBeginning) {
    auto rec = shell_session();
    replay::Playback p(rec, {});
    p.set_playing(true);
    p.advance(1000 * kSec);
    EXPECT_TRUE(p.at_end());
    EXPECT_FALSE(p.playing());
    EXPECT_NE(p.screen().text().at(p.screen().text().size() - 2).find("Permission denied"), std::string::npos);
    p.set_playing(true);
    EXPECT_EQ(p.position_us(), 0u);
    EXPECT_TRUE(p.playing());
}

TEST(Playback, SeekingIsClampedAndExact) {
    auto rec = shell_session();
    replay::Playback p(rec, {});
    p.seek_by(-5 * kSec);
    EXPECT_EQ(p.position_us(), 0u);
    p.seek_by(3 * kSec + 900);
    EXPECT_EQ(p.screen().row_text(3), "the secret-ingredient is salt");
    p.seek(500 * kSec);
    EXPECT_EQ(p.position_us(), 100 * kSec);
    p.seek(1 * kSec + 1999);  // one microsecond before the ls output
    EXPECT_EQ(p.screen().row_text(1), "");
    p.seek(1 * kSec + 2000);
    EXPECT_EQ(p.screen().row_text(1), "a.txt  b.txt");
}

TEST(Playback, StepsCommandByCommand) {
    auto rec = shell_session();
    replay::Playback p(rec, {});
    EXPECT_FALSE(p.current_command());
    ASSERT_TRUE(p.next_command());
    EXPECT_EQ(p.position_us(), 1 * kSec + 100);
    EXPECT_EQ(p.current_command(), 0u);
    ASSERT_TRUE(p.next_command());
    EXPECT_EQ(p.position_us(), 3 * kSec + 100);
    EXPECT_EQ(p.screen().row_text(2), "$ cat a.txt");  // the command line, as typed
    ASSERT_TRUE(p.next_command());
    EXPECT_EQ(p.current_command(), 2u);
    EXPECT_FALSE(p.next_command());  // no more
    EXPECT_EQ(p.position_us(), 90 * kSec + 50);
    ASSERT_TRUE(p.previous_command());  // just jumped here: go to the one before
    EXPECT_EQ(p.current_command(), 1u);
    p.seek(50 * kSec);  // well into "cat": previous restarts it
    ASSERT_TRUE(p.previous_command());
    EXPECT_EQ(p.position_us(), 3 * kSec + 100);
    p.seek(0);
    EXPECT_FALSE(p.previous_command());
}

TEST(Playback, SearchFindsWhatWasPrintedAndWraps) {
    auto rec = shell_session();
    replay::Playback p(rec, {});
    auto hit = p.search("SECRET-ingredient");  // any case
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->offset_us, 3 * kSec + 900);
    EXPECT_EQ(p.position_us(), 3 * kSec + 900);
    EXPECT_EQ(hit->number, 1u);
    EXPECT_EQ(hit->total, 1u);
    EXPECT_NE(p.screen().text().at(3).find("secret-ingredient"), std::string::npos);  // on the screen
    EXPECT_FALSE(p.search("not printed anywhere"));
    EXPECT_EQ(p.position_us(), 3 * kSec + 900);  // a failed search does not move

    // four prompts; the one at 0 s is already on the screen, so "next" starts with the second
    p.seek(0);
    std::vector<size_t> numbers;
    for (int i = 0; i < 4; ++i) {
        auto h = p.search("$ ");
        ASSERT_TRUE(h);
        EXPECT_EQ(h->total, 4u);
        EXPECT_EQ(h->wrapped, i == 3);
        numbers.push_back(h->number);
    }
    EXPECT_EQ(numbers, (std::vector<size_t>{2, 3, 4, 1}));
    auto back = p.search("$ ", false);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->wrapped);
    EXPECT_EQ(back->number, 4u);
    EXPECT_EQ(p.position_us(), 90 * kSec + 80);
}

TEST(Playback, SearchSeesThroughEscapesAndSplitWrites) {
    replay::Recording rec;
    rec.add_output(0, "noise \x1b[1;31mneed");
    rec.add_output(5 * kSec, "\x1b]0;needle in a title\x07le\x1b[0m found\x1bPneedle in a DCS\x1b\\");
    rec.add_output(9 * kSec, "later");
    replay::Playback p(rec, {});
    auto hit = p.search("needle");
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->offset_us, 5 * kSec);  // shown when its last letter was
    EXPECT_EQ(hit->total, 1u) << "text inside an OSC title is not output";
}

TEST(Playback, EverySeekEqualsPlayingFromTheStart) {
    auto rec = execaudit::testing::random_session(11, 2500);
    replay::Playback p(rec, {.keyframes = {.keyframe_bytes = 700, .keyframe_frames = 40}});
    std::mt19937 rng(5);
    for (int i = 0; i < 40; ++i) {
        uint64_t t = rng() % (p.duration_us() + 1);
        p.seek(t);
        // the reference only ever plays forward from a fresh start
        replay::Playback fresh(rec, {.keyframes = {.keyframe_bytes = SIZE_MAX, .keyframe_frames = SIZE_MAX}});
        fresh.set_playing(true);
        fresh.set_idle_compression(false);
        fresh.advance(t);
        ASSERT_EQ(fresh.position_us(), std::min(t, p.duration_us()));
        ASSERT_EQ(dump_screen(p.screen()), dump_screen(fresh.screen())) << "at " << t;
    }
}

// `--idle-limit 0` starts in real time; the `i` key must then compress at the default limit.
TEST(Playback, CompressionTurnedOnLaterHasALimit) {
    auto rec = shell_session();
    for (uint64_t limit : {uint64_t{0}, replay::PlaybackOptions::kDefaultIdleLimitUs}) {
        replay::Playback p(rec, {.idle_limit_us = limit, .idle_compression = false});
        EXPECT_FALSE(p.idle_compression());
        EXPECT_EQ(p.idle_limit_us(), replay::PlaybackOptions::kDefaultIdleLimitUs);
        p.seek(3 * kSec + 900);
        p.set_idle_compression(true);
        p.set_playing(true);
        p.advance(2 * kSec);  // the 2 s limit: on to the next event
        EXPECT_EQ(p.position_us(), 90 * kSec) << limit;
    }
}

}  // namespace

// A pipeline's commands can start in the same microsecond: n and p still step through each one.
TEST(Playback, StepsThroughCommandsThatStartedAtTheSameTime) {
    storage::SessionRecord s;
    s.rows = 10;
    s.cols = 40;
    s.start_ns = 1'000'000'000'000'000'000;
    s.end_ns = s.start_ns + 10'000'000'000;
    replay::Recording rec(s);
    rec.add_output(0, "$ ");
    rec.add_command(1 * kSec, command({"ls", "/usr"}));
    rec.add_command(1 * kSec, command({"head", "-3"}));  // the same microsecond
    rec.add_command(2 * kSec, command({"id"}));
    replay::Playback p(rec, {});
    ASSERT_TRUE(p.next_command());
    EXPECT_EQ(p.current_command(), 0u);
    ASSERT_TRUE(p.next_command());
    EXPECT_EQ(p.current_command(), 1u);
    EXPECT_EQ(p.position_us(), 1 * kSec);
    ASSERT_TRUE(p.next_command());
    EXPECT_EQ(p.current_command(), 2u);
    ASSERT_TRUE(p.previous_command());
    EXPECT_EQ(p.current_command(), 1u);
    ASSERT_TRUE(p.previous_command());
    EXPECT_EQ(p.current_command(), 0u);
    EXPECT_FALSE(p.previous_command());
    p.seek(1 * kSec);  // a plain seek: the last command started by then
    EXPECT_EQ(p.current_command(), 1u);
}

// A command keeps what the timeline shows of it: its argv text, terminal-safe and bounded (a
// session has commands by the hundred thousand; a hostile argv is up to 32 KiB).
TEST(Recording, ACommandKeepsItsTimelineTextBoundedAndSafe) {
    replay::Recording rec;
    rec.add_command(1 * kSec, command({"printf", "\x1b]52;c;aGk=\x07", "\xff"}, 1));
    std::vector<std::string> many(300, std::string(200, 'a'));
    many.insert(many.begin(), "./x\xc3\xa9");
    rec.add_command(2 * kSec, command(many));
    auto wide = command({"echo", ""});
    wide.argv[1] = std::string(replay::TimedCommand::kMaxArgvText - 6, 'b') + "\xe2\x94\x80\xe2\x94\x80";  // a character across the bound
    rec.add_command(3 * kSec, wide);
    ASSERT_EQ(rec.commands().size(), 3u);

    std::string hostile = rec.argv_text(rec.commands()[0]);
    for (unsigned char c : hostile) EXPECT_TRUE(c >= 0x20 && c != 0x7F) << ::testing::PrintToString(hostile);
    EXPECT_FALSE(rec.commands()[0].argv_truncated);
    EXPECT_EQ(rec.commands()[0].retval, 1);

    std::string long_one = rec.argv_text(rec.commands()[1]);
    EXPECT_TRUE(long_one.starts_with("./x\xc3\xa9 aaa")) << long_one;
    EXPECT_LE(long_one.size(), replay::TimedCommand::kMaxArgvText);
    EXPECT_TRUE(rec.commands()[1].argv_truncated);

    std::string cut = rec.argv_text(rec.commands()[2]);
    EXPECT_LE(cut.size(), replay::TimedCommand::kMaxArgvText);
    EXPECT_TRUE(cut.ends_with("b\xe2\x94\x80") || cut.ends_with("b")) << "whole characters only";
    EXPECT_TRUE(rec.commands()[2].argv_truncated);
}

// The timeline reads a command's text when it draws it: one deleted from the database meanwhile
// (by whoever can write the file) is said to be gone, never a blank row.
TEST(Recording, ACommandGoneFromTheDatabaseWhilePlayingSaysSo) {
    execaudit::testing::TempDir dir;
    std::string db = dir.file("s.db");
    execaudit::testing::write_finished_session(db, "c0ffeec0ffeec0ff", execaudit::testing::kT0Ns, 3);
    auto database = storage::Database::open(db, storage::Database::Mode::read_write);
    storage::SessionStore store(database);
    auto session = store.find("c0ffeec0ffeec0ff");
    ASSERT_TRUE(session) << session.error();
    auto rec = replay::Recording::load(store, *session);
    ASSERT_TRUE(rec) << rec.error();
    ASSERT_EQ(rec->commands().size(), 3u);
    EXPECT_EQ(rec->argv_text(rec->commands()[2]), "/bin/echo 2");
    database.exec("DELETE FROM commands WHERE seq = 1");
    EXPECT_EQ(rec->argv_text(rec->commands()[1]), "(this command is no longer in the database)");
}
