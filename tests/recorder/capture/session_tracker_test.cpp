// Session assembly from synthetic kernel records: what the tracker hands to the database.
#include "recorder/capture/session_tracker.h"
#include "storage/io_frames.h"
#include "tests/support/event_builder.h"

#include <gtest/gtest.h>

using namespace execaudit;
using namespace execaudit::recorder;
using execaudit::testing::RecordBuilder;

namespace {

class TrackerTest : public ::testing::Test {
protected:
    TrackerTest()
        : tracker_(SessionTracker::Options{.node = "node-a", .boot_id = "boot", .chunk_bytes = 1024,
                                           .check_leader_liveness = false},
                   [](uint64_t) {
                       PodIdentity p;
                       p.namespace_name = "shop";
                       p.pod = "web";
                       p.container = "app";
                       p.pod_uid = "uid-1";
                       p.container_id = "cid";
                       return p;
                   },
                   [this](storage::WriteOp op) { ops_.push_back(std::move(op)); }, clock_) {}

    void feed(const std::vector<std::byte>& rec) {
        auto e = decode_event(rec);
        ASSERT_TRUE(e) << e.error();
        tracker_.on_event(*e);
    }

    std::vector<storage::CommandRecord> commands() const {
        std::vector<storage::CommandRecord> out;
        for (const auto& op : ops_)
            if (auto* c = std::get_if<storage::WriteCommand>(&op)) out.push_back(c->record);
        std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.seq < b.seq; });
        return out;
    }
    std::vector<storage::ChunkRecord> chunks() const {
        std::vector<storage::ChunkRecord> out;
        for (const auto& op : ops_)
            if (auto* c = std::get_if<storage::WriteChunk>(&op)) out.push_back(c->record);
        return out;
    }
    storage::SessionRecord last_session() const {
        storage::SessionRecord r;
        for (const auto& op : ops_)
            if (auto* s = std::get_if<storage::WriteSession>(&op)) r = s->record;
        return r;
    }
    std::vector<storage::Frame> frames(std::vector<std::string>& keep) const {
        std::vector<storage::Frame> out;
        for (const auto& c : chunks()) {
            keep.push_back(c.frames_data);
            auto r = storage::decode_chunk(keep.back(), c.first_offset_us, [&](const storage::Frame& f) { out.push_back(f); });
            EXPECT_TRUE(r) << r.error();
        }
        return out;
    }

    BootClock clock_;
    std::vector<storage::WriteOp> ops_;
    SessionTracker tracker_;
};

TEST_F(TrackerTest, SessionWithCommandsOutputAndExitCode) {
    RecordBuilder b;
    feed(b.exec({"/bin/bash"}, EA_EXEC_SESSION_START));
    b.ts += 1000;
    feed(b.exec_result(0));
    // a pipeline: two children exec; their results arrive in the other order
    RecordBuilder ls = b, head = b;
    ls.pid = ls.tid = 1001;
    head.pid = head.tid = 1002;
    ls.ts = head.ts = b.ts + 1'000'000;
    head.ts += 1000;
    feed(ls.exec({"ls", "/usr"}));
    feed(head.exec({"head", "-3"}));
    feed(head.exec_result(0));
    feed(ls.exec_result(0));
    RecordBuilder failed = b;
    failed.pid = failed.tid = 1003;
    failed.ts += 2'000'000;
    feed(failed.exec({"/tmp/noexec.sh"}));
    feed(failed.exec_result(-13));
    b.ts += 3'000'000;
    feed(b.tty("ls\n", true));
    feed(b.tty("bin\netc\n"));
    b.ts += 1'000'000;
    feed(b.exit(42 << 8, true));

    auto cmds = commands();
    ASSERT_EQ(cmds.size(), 4u);
    EXPECT_EQ(cmds[0].argv, std::vector<std::string>{"/bin/bash"});
    EXPECT_EQ(cmds[1].argv, (std::vector<std::string>{"ls", "/usr"}));  // exec order, not result order
    EXPECT_EQ(cmds[2].argv, (std::vector<std::string>{"head", "-3"}));
    EXPECT_EQ(cmds[3].retval, -13);
    EXPECT_EQ(cmds[1].retval, 0);

    auto s = last_session();
    EXPECT_EQ(s.status, "ended");
    EXPECT_EQ(s.exit_code, 42);
    EXPECT_FALSE(s.exit_signal);
    EXPECT_EQ(s.namespace_name, "shop");
    EXPECT_EQ(s.pod, "web");
    EXPECT_EQ(s.container, "app");
    EXPECT_EQ(s.node, "node-a");
    EXPECT_EQ(s.command, std::vector<std::string>{"/bin/bash"});
    EXPECT_EQ(s.commands, 4u);
    EXPECT_TRUE(s.tty);
    EXPECT_EQ(s.input_bytes, 3u);
    EXPECT_EQ(s.output_bytes, 8u);  // as written by the process, before the tty's \r
    EXPECT_EQ(s.rows, 24u);
    EXPECT_EQ(s.cols, 80u);
    EXPECT_EQ(s.entered_via, "runc");
    ASSERT_TRUE(s.end_ns);
    EXPECT_EQ(*s.end_ns - s.start_ns, 4'001'000);

    std::vector<std::string> keep;
    auto f = frames(keep);
    ASSERT_EQ(f.size(), 3u);
    EXPECT_EQ(f[0].kind, storage::FrameKind::resize);
    EXPECT_EQ(f[1].kind, storage::FrameKind::input);
    EXPECT_EQ(f[1].data, "ls\n");
    EXPECT_EQ(f[2].kind, storage::FrameKind::output);
    EXPECT_EQ(f[2].data, "bin\r\netc\r\n");  // what the terminal got (ONLCR)
    EXPECT_EQ(f[2].offset_us, 3001u);
}

TEST_F(TrackerTest, KilledBySignal) {
    RecordBuilder b;
    feed(b.exec({"sh"}, EA_EXEC_SESSION_START));
    feed(b.exit(9, true));
    auto s = last_session();
    EXPECT_EQ(s.exit_signal, 9);
    EXPECT_EQ(s.exit_code, 137);
}

TEST_F(TrackerTest, ChunksAreSealedBySizeAndAtTheEnd) {
    RecordBuilder b;
    feed(b.exec({"sh"}, EA_EXEC_SESSION_START));
    std::string line(300, 'x');
    for (int i = 0; i < 10; ++i) {
        b.ts += 1000;
        feed(b.tty(line, false, 24, 80, 0));
    }
    feed(b.exit(0, true));
    auto c = chunks();
    ASSERT_GE(c.size(), 3u);  // 1024-byte chunks in this test
    uint64_t total = 0;
    for (size_t i = 0; i < c.size(); ++i) {
        EXPECT_EQ(c[i].seq, i);
        total += c[i].output_bytes;
    }
    EXPECT_EQ(total, 3000u);
    EXPECT_EQ(last_session().output_bytes, 3000u);
}

TEST_F(TrackerTest, ResizeFramesFollowTheWindow) {
    RecordBuilder b;
    feed(b.exec({"sh"}, EA_EXEC_SESSION_START));
    feed(b.tty("a", false, 24, 80));
    feed(b.tty("b", false, 50, 200));
    feed(b.exit(0, true));
    std::vector<std::string> keep;
    auto f = frames(keep);
    std::vector<std::pair<uint32_t, uint32_t>> sizes;
    for (const auto& fr : f)
        if (fr.kind == storage::FrameKind::resize) sizes.emplace_back(fr.rows, fr.cols);
    EXPECT_EQ(sizes, (std::vector<std::pair<uint32_t, uint32_t>>{{24, 80}, {50, 200}}));
    EXPECT_EQ(last_session().rows, 24u);  // the starting geometry
}

TEST_F(TrackerTest, LossBecomesAGapAndCounts) {
    RecordBuilder b;
    feed(b.exec({"sh"}, EA_EXEC_SESSION_START));
    feed(b.lost(3, 8192));
    feed(b.exit(0, true));
    auto s = last_session();
    EXPECT_EQ(s.lost_events, 3u);
    EXPECT_EQ(s.lost_bytes, 8192u);
    std::vector<std::string> keep;
    auto f = frames(keep);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].kind, storage::FrameKind::gap);
    EXPECT_EQ(f[0].lost_bytes, 8192u);
}

TEST(TrackerCap, OutputBeyondTheCapIsCountedAsAGapNeverStored) {
    BootClock clock;
    std::vector<storage::WriteOp> ops;
    SessionTracker tracker(SessionTracker::Options{.node = "n", .chunk_bytes = 1024, .check_leader_liveness = false,
                                                   .max_output_bytes = 1000},
                           [](uint64_t) { return PodIdentity{}; }, [&](storage::WriteOp op) { ops.push_back(std::move(op)); },
                           clock);
    RecordBuilder b;
    auto feed = [&](const std::vector<std::byte>& rec) {
        auto e = decode_event(rec);
        ASSERT_TRUE(e) << e.error();
        tracker.on_event(*e);
    };
    feed(b.exec({"sh"}, EA_EXEC_SESSION_START));
    for (int i = 0; i < 5; ++i) {
        b.ts += 1000;
        feed(b.tty(std::string(300, 'x'), false, 24, 80, 0));  // 1500 bytes against a cap of 1000
    }
    b.ts += 1000;
    feed(b.tty("typed", true));  // input is not capped
    feed(b.exit(0, true));

    uint64_t stored_output = 0, gap_bytes = 0, gap_events = 0, input = 0;
    std::vector<std::string> keep;
    for (const auto& op : ops)
        if (auto* c = std::get_if<storage::WriteChunk>(&op)) {
            keep.push_back(c->record.frames_data);
            auto r = storage::decode_chunk(keep.back(), c->record.first_offset_us, [&](const storage::Frame& f) {
                if (f.kind == storage::FrameKind::output) stored_output += f.data.size();
                if (f.kind == storage::FrameKind::input) input += f.data.size();
                if (f.kind == storage::FrameKind::gap) {
                    EXPECT_EQ(f.gap_cause, storage::GapCause::output_cap);
                    gap_bytes += f.lost_bytes;
                    gap_events += f.lost_events;
                }
            });
            ASSERT_TRUE(r) << r.error();
        }
    EXPECT_EQ(stored_output, 1000u);
    EXPECT_EQ(gap_bytes, 500u);
    EXPECT_EQ(gap_events, 2u);  // the write that crossed the cap, and the one after it
    EXPECT_EQ(input, 5u);
    storage::SessionRecord s;
    for (const auto& op : ops)
        if (auto* w = std::get_if<storage::WriteSession>(&op)) s = w->record;
    EXPECT_EQ(s.output_bytes, 1500u);  // what the session wrote
    EXPECT_EQ(s.lost_bytes, 500u);     // what was not stored
    EXPECT_EQ(s.lost_events, 2u);
    EXPECT_EQ(tracker.stats().capped_bytes, 500u);
}

TEST_F(TrackerTest, LostStartRecordStillMakesASession) {
    RecordBuilder b;
    b.session_id = 77;
    feed(b.tty("output of a session whose start was lost"));
    feed(b.exit(0, true));
    auto s = last_session();
    EXPECT_TRUE(s.start_lost);
    EXPECT_EQ(s.status, "ended");
    EXPECT_EQ(s.output_bytes, 40u);
}

TEST_F(TrackerTest, LostExecResultIsStillACommand) {
    RecordBuilder b;
    feed(b.exec({"sh"}, EA_EXEC_SESSION_START));
    feed(b.exec_result(0));
    RecordBuilder child = b;
    child.pid = child.tid = 2000;
    feed(child.exec({"first"}));  // its result record is lost
    feed(child.exec({"second"}));
    feed(child.exec_result(0));
    feed(b.exit(0, true));
    auto cmds = commands();
    ASSERT_EQ(cmds.size(), 3u);
    EXPECT_EQ(cmds[1].argv, std::vector<std::string>{"first"});
    EXPECT_FALSE(cmds[1].retval);  // unknown, shown as such
    EXPECT_EQ(cmds[2].retval, 0);
}

TEST_F(TrackerTest, InterruptedWhenTheRecorderStops) {
    RecordBuilder b;
    feed(b.exec({"sh"}, EA_EXEC_SESSION_START));
    feed(b.tty("still running"));
    tracker_.interrupt_all(clock_.to_wall_ns(b.ts) + 5);
    auto s = last_session();
    EXPECT_EQ(s.status, "interrupted");
    ASSERT_TRUE(s.end_ns);
    EXPECT_EQ(chunks().size(), 1u);  // nothing left in memory
}

TEST_F(TrackerTest, SuspendedForTheNextRecorderAndContinuedUnderTheSameId) {
    RecordBuilder b;
    feed(b.exec({"sh"}, EA_EXEC_SESSION_START));
    b.ts += 1000;
    feed(b.exec_result(0));
    feed(b.tty("before"));
    tracker_.suspend_all();
    auto stored = last_session();
    EXPECT_EQ(stored.status, "open");  // left open: the kernel goes on following it
    EXPECT_EQ(stored.kernel_session_id, b.session_id);
    ASSERT_EQ(chunks().size(), 1u);

    // the next recorder: a fresh tracker continues the stored session
    std::vector<storage::WriteOp> ops;
    SessionTracker next(SessionTracker::Options{.node = "node-a", .boot_id = "boot", .check_leader_liveness = false},
                        [](uint64_t) { return PodIdentity{}; }, [&](storage::WriteOp op) { ops.push_back(std::move(op)); },
                        clock_);
    stored.last_activity_ns = clock_.to_wall_ns(b.ts);
    next.resume(stored, 1, 1, /*unfollowed=*/true, b.ts + 3'000'000'000);
    b.ts += 3'000'000'000;
    b.ts += 1000;
    auto after = b.tty("after");
    auto e = decode_event(after);
    ASSERT_TRUE(e);
    next.on_event(*e);
    next.interrupt_all(clock_.to_wall_ns(b.ts));
    storage::SessionRecord last;
    std::vector<storage::ChunkRecord> written;
    for (const auto& op : ops) {
        if (auto* w = std::get_if<storage::WriteSession>(&op)) last = w->record;
        if (auto* c = std::get_if<storage::WriteChunk>(&op)) written.push_back(c->record);
    }
    EXPECT_EQ(last.id, stored.id);
    EXPECT_EQ(last.lost_events, 1u);
    ASSERT_EQ(written.size(), 1u);
    EXPECT_EQ(written[0].seq, 1u);  // after the previous recorder's chunk
    std::vector<storage::Frame> frames;
    ASSERT_TRUE(storage::decode_chunk(written[0].frames_data, written[0].first_offset_us,
                                      [&](const storage::Frame& f) { frames.push_back(f); }));
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_TRUE(frames[0].recorder_gap);
    EXPECT_EQ(frames[0].recorder_gap_until_us - frames[0].offset_us, 3'000'000u);
    EXPECT_EQ(frames[1].data, "after");
}

TEST_F(TrackerTest, TwoSessionsStayApart) {
    RecordBuilder a, b;
    b.session_id = 2;
    b.pid = b.tid = 3000;
    feed(a.exec({"bash"}, EA_EXEC_SESSION_START));
    feed(b.exec({"sh"}, EA_EXEC_SESSION_START));
    feed(a.tty("from-a"));
    feed(b.tty("from-b"));
    feed(a.exit(0, true));
    feed(b.exit(1 << 8, true));
    std::map<std::string, storage::SessionRecord> by_id;
    for (const auto& op : ops_)
        if (auto* s = std::get_if<storage::WriteSession>(&op)) by_id[s->record.id] = s->record;
    ASSERT_EQ(by_id.size(), 2u);
    std::set<std::string> outputs;
    for (const auto& c : chunks()) outputs.insert(c.session_id + ":" + c.frames_data.substr(c.frames_data.size() - 6));
    EXPECT_EQ(outputs.size(), 2u);
    for (const auto& [id, s] : by_id) {
        EXPECT_EQ(s.output_bytes, 6u);
        EXPECT_EQ(outputs.count(id + ":" + (s.command[0] == "bash" ? "from-a" : "from-b")), 1u);
    }
}

}  // namespace

// What the tty showed of a line it echoed (n_tty with ECHOCTL): the replay draws this.
TEST(TtyEcho, RendersTheLineAsTheTerminalShowedIt) {
    using execaudit::recorder::render_tty_echo;
    EXPECT_EQ(render_tty_echo("ls -l\n", true), "ls -l\r\n");
    EXPECT_EQ(render_tty_echo("ls -l\n", false), "ls -l\n");
    EXPECT_EQ(render_tty_echo("a\tb\x01\x7f\x1b[31m\n", true), "a\tb^A^?^[[31m\r\n");  // no raw ESC reaches the screen
    EXPECT_EQ(render_tty_echo("caf\xc3\xa9", true), "caf\xc3\xa9");
}
