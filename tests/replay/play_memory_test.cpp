// Replay memory is bounded: `play --cat`, `play --cat --start` and `play` in a terminal on an
// 8-hour session with more than 200 MB of output and 150k commands, stored with the real writer,
// stay under a fixed peak RSS (the old player held the whole stream in memory: 1.4x the output;
// then every command's stored record and its timeline line: 150k commands took 190 MB).
#include "storage/io_frames.h"
#include "storage/store_writer.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"
#include "tests/support/stored_sessions.h"
#include "tests/support/tmux.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

using namespace execaudit;
using namespace execaudit::testing;

namespace {

constexpr uint64_t kHourUs = 3'600'000'000ULL;
constexpr int kChunks = 420;              // of 512 KiB: 210 MiB of output
constexpr uint64_t kDurationUs = 8 * kHourUs;
constexpr long kRssBoundMb = 64;          // the target (bench/README.md: play_rss_mb)
constexpr uint32_t kCommands = 150'000;   // a busy 8-hour session: a command every 0.2 s
const std::string kId = "b16b16b16b16b16b";

struct Child {
    int exit_code = -1;
    long peak_rss_kb = 0;  // getrusage of the child: its VmHWM
    std::string out;
};

// Runs argv with stdout to a file; the child's peak RSS from wait4.
Child run_measured(const std::vector<std::string>& argv, const std::string& out_path) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDOUT_FILENO);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    Child c;
    int status = 0;
    struct rusage ru {};
    if (wait4(pid, &status, 0, &ru) == pid) {
        c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        c.peak_rss_kb = ru.ru_maxrss;
    }
    c.out = read_file(out_path);
    return c;
}

class PlayMemory : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        db_ = dir_->file("long.db");
        // Written by a child: a forked child's peak RSS (wait4) starts at its parent's, so this
        // process must stay small for the figures to be play's own.
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            write_session(db_);
            _exit(0);
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writing the session failed";
    }
    static void write_session(const std::string& db) {
        // test data, not a recorder: wait for a loaded machine's disk rather than drop (and count) records
        storage::StoreWriter w(storage::Database::open(db, storage::Database::Mode::read_write),
                               {.nice = 0, .stall_patience = std::chrono::minutes(10)});
        auto s = sample_session(kId, kT0Ns);
        s.status = "ended";
        s.end_ns = s.start_ns + static_cast<int64_t>(kDurationUs) * 1000;
        w.submit(storage::WriteSession{s});
        // One 4 KiB write, reused: each chunk is 127 of them and a line naming it. Mostly NULs,
        // which the emulator takes at 80 MB/s (log lines: 11 MB/s), so the test takes seconds.
        std::string block(4096 - 64, '\0');
        block += "GET /api/v1/orders status=200 bytes=5120 ms=12 ok ........\r\n";
        for (uint32_t seq = 0; seq < kChunks; ++seq) {
            storage::ChunkEncoder enc;
            uint64_t at = kDurationUs * seq / kChunks;
            for (int i = 0; i < 127; ++i) enc.add_bytes(at + i * 1000, storage::FrameKind::output, block);
            enc.add_bytes(at + 200'000, storage::FrameKind::output, fmt::format("chunk {:04} done\r\n$ ", seq));
            storage::ChunkRecord c;
            c.session_id = kId;
            c.seq = seq;
            c.first_offset_us = enc.first_offset_us();
            c.last_offset_us = enc.last_offset_us();
            c.frames = enc.frames();
            c.output_bytes = enc.output_bytes();
            c.frames_data = enc.take();
            w.submit(storage::WriteChunk{std::move(c)});
        }
        // Its commands (a loop of short ones, as a script runs them), spread over the 8 hours:
        // the screen needs none of them, and held whole they were most of play's memory.
        for (uint32_t seq = 0; seq < kCommands; ++seq) {
            auto c = sample_command(s, seq, {"/usr/bin/grep", "-c", "status=500", fmt::format("/var/log/app/orders-{}.log", seq)});
            c.time_ns = s.start_ns + static_cast<int64_t>(kDurationUs * seq / kCommands) * 1000;
            w.submit(storage::WriteCommand{std::move(c)});
        }
        w.flush();
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }

    Child play(std::vector<std::string> args) {
        args.insert(args.begin(), {execaudit_bin(), "play", kId, "--db", db_, "--cat"});
        return run_measured(args, dir_->file("out.txt"));
    }

    static TempDir* dir_;
    static std::string db_;
};

TempDir* PlayMemory::dir_ = nullptr;
std::string PlayMemory::db_;

TEST_F(PlayMemory, CatStreamsAnEightHourSession) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = play({});
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find(fmt::format("chunk {:04} done", kChunks - 1)), std::string::npos) << "the final screen: " << r.out;
    EXPECT_LE(r.peak_rss_kb / 1024, kRssBoundMb) << "peak RSS of play --cat over " << kChunks / 2 << " MiB of output";
    std::cerr << fmt::format("play --cat: {} MiB output, peak RSS {} MB, {:.1f} s\n", kChunks / 2, r.peak_rss_kb / 1024, s);
}

TEST_F(PlayMemory, SeekInAnEightHourSession) {
    // 0:01:10 is in chunk 2 (a chunk every 68.6 s): the screen there, not at the end
    auto r = play({"--start", "0:01:10"});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find("chunk 0001 done"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("chunk 0002 done"), std::string::npos) << r.out;
    EXPECT_LE(r.peak_rss_kb / 1024, kRssBoundMb) << "peak RSS of play --cat --start";
    std::cerr << fmt::format("play --cat --start: peak RSS {} MB\n", r.peak_rss_kb / 1024);
}

TEST_F(PlayMemory, SeekNearTheEndOfAnEightHourSessionWithItsCommands) {
    // a minute before the end: every chunk is played, and the session's 150k commands are not
    // needed for the screen (they took 79 MB of RSS on the seek bench's session)
    auto r = play({"--start", "7:58:00"});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_NE(r.out.find(fmt::format("chunk {:04} done", kChunks - 2)), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find(fmt::format("chunk {:04} done", kChunks - 1)), std::string::npos) << r.out;
    EXPECT_LE(r.peak_rss_kb / 1024, kRssBoundMb) << "peak RSS of play --cat --start near the end";
    std::cerr << fmt::format("play --cat --start 7:58:00: peak RSS {} MB\n", r.peak_rss_kb / 1024);
}

// The player in a real terminal loads every command for its timeline: each keeps what the
// timeline shows, and its line is made when drawn.
TEST_F(PlayMemory, PlayInATerminalWithTheTimelineOfAnEightHourSession) {
    Tmux player(50, 160, play_argv(db_, kId));
    ASSERT_TRUE(player.wait_for(fmt::format("Commands ({})", kCommands), std::chrono::minutes(2))) << player.screen();
    auto pid = player.program_pid();
    ASSERT_TRUE(pid) << player.screen();
    player.keys({"G"});  // the end: every chunk played
    ASSERT_TRUE(player.wait_for(fmt::format("chunk {:04} done", kChunks - 1), std::chrono::minutes(2))) << player.screen();
    EXPECT_TRUE(player.screen().find(fmt::format("orders-{}.log", kCommands - 1)) != std::string::npos) << player.screen();
    auto peak = peak_rss_mb(*pid);
    ASSERT_TRUE(peak) << "play exited: " << player.screen();
    long peak_mb = static_cast<long>(*peak);
    player.keys({"q"});
    EXPECT_LE(peak_mb, kRssBoundMb) << "peak RSS of play with " << kCommands << " commands";
    std::cerr << fmt::format("play (terminal, timeline, at the end): peak RSS {} MB\n", peak_mb);
}

}  // namespace
