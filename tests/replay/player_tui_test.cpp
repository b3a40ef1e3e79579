// The interactive player in a real terminal (tmux), on sessions written straight into a
// database: what an analyst sees and can do. tests/e2e/player_test.cpp does the same on sessions
// recorded by the real recorder.
#include "storage/io_frames.h"
#include "storage/store_writer.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"
#include "tests/support/stored_sessions.h"
#include "tests/support/tmux.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>

using namespace execaudit;
using namespace execaudit::testing;

namespace {

constexpr uint64_t kSec = 1'000'000;
constexpr int64_t kStart = 1'730'204'504'000'000'000;  // 2024-10-29T12:21:44Z

struct Chunk {
    storage::ChunkEncoder enc;
    void out(uint64_t at, std::string_view bytes) { enc.add_bytes(at, storage::FrameKind::output, bytes); }
};

storage::SessionRecord session(const std::string& id, uint32_t rows, uint32_t cols, uint64_t duration_us) {
    storage::SessionRecord s = execaudit::testing::sample_session(id, kStart);
    s.pod = "web-7f9c";
    s.cgroup_id = 9;
    s.leader_pid = 4242;
    s.rows = rows;
    s.cols = cols;
    s.end_ns = kStart + static_cast<int64_t>(duration_us) * 1000;
    s.status = "ended";
    s.exit_code = 0;
    return s;
}

void add_command(storage::StoreWriter& w, const std::string& id, uint32_t seq, uint64_t at_us, std::vector<std::string> argv,
                 int32_t retval = 0) {
    storage::CommandRecord c;
    c.session_id = id;
    c.seq = seq;
    c.time_ns = kStart + static_cast<int64_t>(at_us) * 1000;
    c.argv = std::move(argv);
    c.retval = retval;
    w.submit(storage::WriteCommand{c});
}

void add_chunk(storage::StoreWriter& w, const std::string& id, uint32_t seq, storage::ChunkEncoder& enc) {
    storage::ChunkRecord c;
    c.session_id = id;
    c.seq = seq;
    c.first_offset_us = enc.first_offset_us();
    c.last_offset_us = enc.last_offset_us();
    c.frames = enc.frames();
    c.output_bytes = enc.output_bytes();
    c.frames_data = enc.take();
    w.submit(storage::WriteChunk{c});
}

const std::string kShell = "aaaa1111bbbb2222";    // a shell session, 24x80, 40 s, attributed to alice
const std::string kWide = "cccc3333dddd4444";     // 40x120: larger than a small terminal
const std::string kHostile = "eeee5555ffff6666";  // escape sequences aimed at the analyst's terminal
const std::string kCrash = "9999aaaa0000bbbb";    // sequences that crashed libvterm 0.1.4 (tests/fuzz)

// Each crashed every replay path before replay/sequence_guard.h: the first is 18 bytes a user can
// print with printf; the others are what tests/fuzz/terminal_screen_fuzz.cpp found after it.
std::vector<std::string> libvterm_crashers() {
    return {"\x1b[;;;;;;;;;;;;;;;;H",
            std::string("\x1b]\x1b\x04\\", 5),
            "\x1b[" + std::string(20, ';') + "\x18",
            "\x1b![" + std::string(40, ';') + "H",
            "\x1b[" + std::string(5000, ';') + "\x1b[" + std::string(99, '9') + "m"};
}

class PlayerTui : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        db_ = dir_->file("s.db");
        storage::StoreWriter w(storage::Database::open(db_, storage::Database::Mode::read_write), {});

        auto shell = session(kShell, 24, 80, 40 * kSec);
            w.submit(storage::WriteSession{shell});
        add_command(w, kShell, 0, 0, {"/bin/bash"});
        add_command(w, kShell, 1, 1 * kSec, {"ls", "/usr"});
        add_command(w, kShell, 2, 3 * kSec, {"/tmp/noexec.sh"}, -13);
        add_command(w, kShell, 3, 6 * kSec, {"echo", "needle-$((40+2))"});
        add_command(w, kShell, 4, 38 * kSec, {"printf", "\x1b]0;argv-title\x07"});  // hostile argv: shown escaped
        Chunk c;
        c.out(0, "root@web:/# ");
        c.out(900'000, "ls /usr\r\n");
        c.out(1 * kSec + 5000, "bin  lib  sbin  share\r\nroot@web:/# ");
        c.out(2900'000, "/tmp/noexec.sh\r\nbash: /tmp/noexec.sh: Permission denied\r\nroot@web:/# ");
        c.out(5900'000, "echo needle-$((40+2))\r\n");
        c.out(6 * kSec + 3000, "needle-");
        c.out(6 * kSec + 4000, "42\r\nroot@web:/# ");  // printed in two writes
        c.enc.add_gap(7 * kSec, 3, 4096);
        c.out(37 * kSec, "printf ...\r\nroot@web:/# exit\r\n");  // after a 30 s pause
        c.out(38 * kSec, "\x1b[1;31mlast line in red\x1b[0m\r\n");
        add_chunk(w, kShell, 0, c.enc);

        auto wide = session(kWide, 40, 120, 5 * kSec);
        wide.pod = "batch-0";
        w.submit(storage::WriteSession{wide});
        Chunk d;
        d.out(0, "top-left\x1b[1;100HFAR-RIGHT\x1b[38;1HFAR-DOWN");
        add_chunk(w, kWide, 0, d.enc);

        auto hostile = session(kHostile, 24, 80, 3 * kSec);
        hostile.pod = "evil-1";
        w.submit(storage::WriteSession{hostile});
        Chunk h;
        h.out(0, "before\r\n\x1b]0;owned-title\x07\x1b]2;owned-too\x07\x1b[2J\x1b" "c\x1b[?1049h");
        std::mt19937 rng(7);
        std::string blob(1 << 20, '\0');
        for (auto& b : blob) b = static_cast<char>(rng());
        for (size_t i = 0; i < blob.size(); i += 60000) {  // 1 MB of binary, NULs included
            h.out(1 * kSec + i, blob.substr(i, 60000));
            if (h.enc.size_bytes() > 50000) add_chunk(w, kHostile, static_cast<uint32_t>(i / 60000), h.enc);
        }
        h.out(2 * kSec, "\x1b" "c\x1b[?1049lafter-the-blob\r\n");
        add_chunk(w, kHostile, 100, h.enc);

        auto crash = session(kCrash, 24, 80, 2 * kSec);
        crash.pod = "crash-0";
        w.submit(storage::WriteSession{crash});
        Chunk k;
        k.out(0, "before-crash\r\n");
        uint64_t at = 100'000;
        for (const std::string& crasher : libvterm_crashers()) k.out(at += 100'000, crasher);
        k.out(1 * kSec, "\r\nafter-crash\r\n");
        add_chunk(w, kCrash, 0, k.enc);
        w.flush();
        // Attribution is written by its own component (never by the recorder's writer): as it will.
        auto db = storage::Database::open(db_, storage::Database::Mode::read_write);
        auto attribute = db.prepare("UPDATE sessions SET user = ?1, attribution = ?2 WHERE id = ?3");
        attribute.bind(1, std::optional<std::string>("alice@example.com")).bind(2, std::string("audit")).bind(3, kShell);
        attribute.run();
        auto unattributed = db.prepare("UPDATE sessions SET attribution = 'unattributed' WHERE id <> ?1");
        unattributed.bind(1, kShell);
        unattributed.run();
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }

    void SetUp() override { EA_REQUIRE(missing_program("tmux")); }

    static std::vector<std::string> play(const std::string& id, const std::vector<std::string>& extra = {}) { return play_argv(db_, id, extra); }

    // The position the header shows, in tenths of a second (-1 when none).
    static long position(const std::string& screen) { return shown_tenths(screen); }

    static std::string first_line(const std::string& screen) { return screen.substr(0, screen.find('\n')); }

    static TempDir* dir_;
    static std::string db_;
};

TempDir* PlayerTui::dir_ = nullptr;
std::string PlayerTui::db_;

TEST_F(PlayerTui, HeaderSaysWhoWhereAndWhen) {
    Tmux t(40, 140, play(kShell, {"--paused"}));
    ASSERT_TRUE(t.wait_for("who: alice@example.com")) << t.screen();
    std::string s = t.settled();
    EXPECT_NE(first_line(s).find("pod: shop/web-7f9c"), std::string::npos) << s;
    EXPECT_NE(first_line(s).find("container: app"), std::string::npos);
    EXPECT_NE(first_line(s).find("node: node-1"), std::string::npos);
    EXPECT_NE(first_line(s).find("start: 2024-10-29 12:21:44 UTC"), std::string::npos);
    EXPECT_NE(s.find("paused"), std::string::npos);
    EXPECT_NE(s.find("00:00.0 / 00:40.0"), std::string::npos);
    EXPECT_NE(s.find("speed 1x"), std::string::npos);
    EXPECT_NE(s.find("gaps: 1"), std::string::npos);
    // the progress bar fills the rest of the line, brackets included, and marks the gap
    std::string line2 = s.substr(s.find('\n') + 1);
    line2 = line2.substr(0, line2.find('\n'));
    EXPECT_EQ(line2.size(), 140u) << line2;
    EXPECT_EQ(line2.back(), ']') << line2;
    EXPECT_NE(line2.find("[>"), std::string::npos) << line2;
    EXPECT_NE(line2.find('!'), std::string::npos) << line2;
    t.keys({"q"});
    ASSERT_TRUE(eventually([&] { return t.exit_status().has_value(); })) << t.screen();
    EXPECT_EQ(t.exit_status(), 0);
}

TEST_F(PlayerTui, TimelineListsCommandsAndStepsThroughThem) {
    Tmux t(40, 140, play(kShell, {"--paused"}));
    ASSERT_TRUE(t.wait_for("Commands (5)")) << t.screen();
    std::string s = t.settled();
    EXPECT_NE(s.find("00:01.0  ok       ls /usr"), std::string::npos) << s;
    EXPECT_NE(s.find("00:03.0  EACCES   /tmp/noexec.sh"), std::string::npos) << s;
    EXPECT_NE(s.find("LOST     4096 bytes, 3 events"), std::string::npos) << s;
    EXPECT_NE(s.find("00:07.0  LOST"), std::string::npos) << "the gap is in its place in time:\n" << s;
    EXPECT_NE(s.find("printf \\e]0;argv-title\\x07"), std::string::npos) << "argv is shown escaped:\n" << s;
    // n: the next command, its time, highlighted; the screen shows it typed at the prompt
    t.keys({"n"});  // from 0: bash itself ran at 0, so the next one is ls
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 10; })) << t.screen();
    s = t.settled();
    EXPECT_NE(s.find(">00:01.0  ok       ls /usr"), std::string::npos) << s;
    EXPECT_NE(s.find("root@web:/# ls /usr"), std::string::npos);
    EXPECT_NE(s.find("command 2 of 5: ls /usr"), std::string::npos);
    t.keys({"n"});
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 30; })) << t.screen();
    EXPECT_NE(t.screen().find(">00:03.0  EACCES"), std::string::npos);
    t.keys({"p"});  // just arrived: p goes to the previous one
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 10; })) << t.screen();
    // G: the end, with the final screen; g: back to the start
    t.keys({"G"});
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 400; })) << t.screen();
    s = t.settled();
    EXPECT_NE(s.find("ended"), std::string::npos);
    EXPECT_NE(s.find("last line in red"), std::string::npos) << s;
    auto cat = run({execaudit_bin(), "play", kShell, "--db", db_, "--cat"});
    for (size_t at = 0, end; (end = cat.out.find('\n', at)) != std::string::npos; at = end + 1)
        EXPECT_NE(s.find(cat.out.substr(at, end - at)), std::string::npos) << "final screen line missing: " << cat.out.substr(at, end - at);
    t.keys({"g"});
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 0; })) << t.screen();
    EXPECT_EQ(t.screen().find("last line in red"), std::string::npos);
}

TEST_F(PlayerTui, PauseStopsTheClockAndSpeedChangesIt) {
    Tmux t(40, 140, play(kShell, {"--idle-limit", "0"}));
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) >= 10; })) << t.screen();
    t.keys({"Space"});
    ASSERT_TRUE(t.wait_for("paused"));
    long paused_at = position(t.screen());
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(position(t.screen()), paused_at) << "the clock moved while paused";
    t.keys({"+", "+"});
    ASSERT_TRUE(t.wait_for("speed 4x")) << t.screen();
    t.keys({"Space"});
    ASSERT_TRUE(t.wait_until([&](const std::string& x) { return position(x) >= paused_at + 40; })) << t.screen();
    EXPECT_NE(t.screen().find("speed 4x"), std::string::npos) << t.screen();
}

TEST_F(PlayerTui, SeekKeysMoveByFiveAndSixtySeconds) {
    Tmux t(40, 140, play(kShell, {"--paused"}));
    ASSERT_TRUE(t.wait_for("paused"));
    t.keys({"Right"});
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 50; })) << t.screen();
    t.keys({"Right", "Left", "Left"});
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 0; })) << t.screen();
    t.keys({"Up"});  // +60 s, clamped to the end
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 400; })) << t.screen();
    t.keys({"Down"});
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 0; })) << t.screen();
}

TEST_F(PlayerTui, SearchFindsAStringPrintedMidSession) {
    Tmux t(40, 140, play(kShell, {"--paused"}));
    ASSERT_TRUE(t.wait_for("paused"));
    t.keys({"/"});
    t.type("NEEDLE-42");  // any case; printed in two writes
    t.keys({"Enter"});
    ASSERT_TRUE(t.wait_for("match 1 of 1")) << t.screen();
    std::string s = t.settled();
    EXPECT_EQ(position(s), 60) << s;
    EXPECT_NE(s.find("\nneedle-42"), std::string::npos) << s;  // on the emulated screen, at the left edge
    t.keys({"/"});
    t.type("never printed");
    t.keys({"Enter"});
    ASSERT_TRUE(t.wait_for("not found in the output: never printed")) << t.screen();
    EXPECT_EQ(position(t.screen()), 60);
}

TEST_F(PlayerTui, HelpTeachesTheKeys) {
    Tmux t(40, 140, play(kShell, {"--paused"}));
    ASSERT_TRUE(t.wait_for("? help"));
    t.keys({"?"});
    ASSERT_TRUE(t.wait_for("Keys (any key closes this)")) << t.screen();
    for (const char* k : {"pause / resume", "next / previous command", "search the output", "idle compression", "quit"})
        EXPECT_NE(t.screen().find(k), std::string::npos) << k;
    t.keys({"x"});
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return x.find("Keys (any") == std::string::npos; }));
}

TEST_F(PlayerTui, ASmallerTerminalClipsAndPans) {
    Tmux t(24, 80, play(kWide, {"--paused"}));
    ASSERT_TRUE(t.wait_for("[clipped")) << t.screen();
    std::string s = t.settled();
    EXPECT_NE(s.find("who: unattributed"), std::string::npos) << s;
    EXPECT_NE(s.find("top-left"), std::string::npos);
    EXPECT_EQ(s.find("FAR-RIGHT"), std::string::npos);
    for (int i = 0; i < 10; ++i) t.keys({"L"});
    ASSERT_TRUE(t.wait_for("FAR-RIGHT")) << t.screen();
    EXPECT_EQ(t.settled().find("top-left"), std::string::npos);
    for (int i = 0; i < 10; ++i) t.keys({"H"});
    for (int i = 0; i < 12; ++i) t.keys({"J"});
    ASSERT_TRUE(t.wait_for("FAR-DOWN")) << t.screen();
    // more room: no clipping
    t.resize(60, 200);
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return x.find("[clipped") == std::string::npos && x.find("top-left") != std::string::npos; }))
        << t.screen();
}

TEST_F(PlayerTui, ResizingWhilePlayingRedrawsAndNeverCrashes) {
    Tmux t(40, 140, play(kShell, {"--speed", "4"}));
    ASSERT_TRUE(t.wait_for("who: alice"));
    for (auto [rows, cols] : std::vector<std::pair<int, int>>{{20, 60}, {3, 10}, {50, 220}, {12, 40}, {30, 100}}) {
        t.resize(rows, cols);
        std::this_thread::sleep_for(300ms);
        EXPECT_FALSE(t.exit_status().has_value()) << "exited at " << rows << "x" << cols;
    }
    // laid out for 100 columns: the 80-column recording does not fit beside the timeline, so it
    // is clipped to what the timeline (30 columns and a border) leaves: 69 columns, with the '>'
    // edge in column 69 of every screen row (at 220 columns nothing is clipped; at 40, more)
    ASSERT_TRUE(t.wait_until([](const std::string& x) {
        std::vector<std::string> lines;
        std::istringstream in(x);
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        if (lines.size() < 26 || lines[0].rfind(" execaudit play", 0) != 0) return false;
        if (lines[1].find("[clipped: 69x24 of 80x24, H J K L pan]") == std::string::npos) return false;
        for (size_t r = 2; r < 26; ++r)
            if (lines[r].size() < 70 || lines[r][69] != '>') return false;
        return lines[2].find("Commands (5)", 70) != std::string::npos;
    })) << "not laid out for the new width:\n" << t.screen();
    t.keys({"q"});
    ASSERT_TRUE(eventually([&] { return t.exit_status().has_value(); }));
    EXPECT_EQ(t.exit_status(), 0);
}

TEST_F(PlayerTui, OutputThatCrashedTheEmulatorPlaysToTheEnd) {
    for (std::vector<std::string> extra : {std::vector<std::string>{"--cat"}, {"--cat", "--start", "0.6"}, {"--cat", "--start", "0"}}) {
        std::vector<std::string> argv = {execaudit_bin(), "play", kCrash, "--db", db_};
        argv.insert(argv.end(), extra.begin(), extra.end());
        auto r = run(argv);
        EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(extra) << "\n" << r.err;
        if (extra.size() == 1) {
            EXPECT_NE(r.out.find("after-crash"), std::string::npos) << r.out;
        }
    }
    Tmux t(40, 140, play(kCrash, {"--speed", "4"}));
    ASSERT_TRUE(t.wait_for("ended", 20s)) << t.screen();
    EXPECT_NE(t.settled().find("after-crash"), std::string::npos) << t.screen();
    t.keys({"g", "G", "q"});
    ASSERT_TRUE(eventually([&] { return t.exit_status().has_value(); }));
    EXPECT_EQ(t.exit_status(), 0);
}

TEST_F(PlayerTui, HostileOutputNeverReachesTheTerminal) {
    Tmux t(40, 140, play(kHostile, {"--speed", "16"}));
    std::string title = t.pane_title();
    ASSERT_TRUE(t.wait_for("ended", 20s)) << t.screen();
    std::string s = t.settled();
    EXPECT_EQ(t.pane_title(), title);
    EXPECT_EQ(s.find("owned"), std::string::npos);
    EXPECT_EQ(s.rfind(" execaudit play", 0), 0u) << "the header was cleared:\n" << s;
    EXPECT_NE(s.find("after-the-blob"), std::string::npos) << s;
    // back to the start (the text is gone), then through the blob again, seeking
    t.keys({"g"});
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 0 && x.find("after-the-blob") == std::string::npos; }))
        << t.screen();
    t.keys({"Right", "G"});
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return position(x) == 30 && x.find("after-the-blob") != std::string::npos; }))
        << t.screen();
    s = t.settled();
    EXPECT_EQ(s.find("owned"), std::string::npos) << s;
    EXPECT_EQ(s.rfind(" execaudit play", 0), 0u) << "the header was cleared:\n" << s;
    EXPECT_EQ(t.pane_title(), title);
    t.keys({"q"});
    ASSERT_TRUE(eventually([&] { return t.exit_status().has_value(); }));
    EXPECT_EQ(t.exit_status(), 0);
}

TEST_F(PlayerTui, PickBrowsesFiltersAndPlays) {
    Tmux t(30, 160, {execaudit_bin(), "sessions", "--pick", "--db", db_});
    ASSERT_TRUE(t.wait_for("4 of 4")) << t.screen();
    t.type("crash");  // played from the list, the output that crashed libvterm plays too
    ASSERT_TRUE(t.wait_for("1 of 4")) << t.screen();
    t.keys({"Enter"});
    ASSERT_TRUE(t.wait_for("pod: shop/crash-0")) << t.screen();
    t.keys({"G"});
    ASSERT_TRUE(t.wait_for("after-crash")) << t.screen();
    t.keys({"q"});
    ASSERT_TRUE(t.wait_for("1 of 4")) << t.screen();
    t.keys({"Escape"});
    ASSERT_TRUE(t.wait_for("4 of 4")) << t.screen();
    t.type("batch");
    ASSERT_TRUE(t.wait_for("1 of 4")) << t.screen();
    EXPECT_NE(t.screen().find("shop/batch-0"), std::string::npos);
    EXPECT_EQ(t.screen().find("shop/web-7f9c"), std::string::npos);
    t.keys({"Enter"});
    ASSERT_TRUE(t.wait_for("pod: shop/batch-0")) << t.screen();  // the player
    t.keys({"q"});
    ASSERT_TRUE(t.wait_for("1 of 4")) << t.screen();  // back in the list, filter kept
    t.keys({"Escape", "Escape"});  // clear the filter, then quit
    ASSERT_TRUE(eventually([&] { return t.exit_status().has_value(); })) << t.screen();
    EXPECT_EQ(t.exit_status(), 0);
}

}  // namespace
