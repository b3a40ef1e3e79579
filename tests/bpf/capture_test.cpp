// The BPF programs on this kernel: they load and attach; a process that enters a pod cgroup
// from outside (after the container's init) with a pty produces exec, output, input and exit
// events; the init's own children and a process outside the scope produce none.
#include "common/errors.h"
#include "recorder/capture/capture.h"
#include "recorder/pods/cgroup_fs.h"
#include "recorder/capture/event_decoder.h"
#include "recorder/capture/tracefs.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <sstream>

using namespace execaudit;
using namespace execaudit::recorder;
using namespace execaudit::testing;

namespace {

struct Seen {
    uint16_t type = 0, flags = 0;
    uint64_t session = 0;
    uint32_t pid = 0;
    std::vector<std::string> argv;
    std::string data;
    int32_t value = 0;
    uint16_t rows = 0, cols = 0;
};

class BpfCapture : public ::testing::Test {
protected:
    void SetUp() override {
        EA_REQUIRE(missing_privileges());
        ensure_tracefs();
        cgroups_ = std::make_unique<CgroupFs>(CgroupFs::discover());
        base_ = "/execaudit-bpftest-" + std::to_string(getpid());
        for (const char* sub : {"/pods/ctr", "/outside"})
            std::filesystem::create_directories(cgroups_->mount_point() + base_ + sub);
        capture_ = std::make_unique<Capture>(
            io_, Capture::Options{.roots = {cgroups_->root_from_argument(base_ + "/pods")}, .ring_bytes = ring_bytes()},
            [this](std::span<const std::byte> batch) { collect(batch); });
        capture_->start();
    }

    virtual size_t ring_bytes() const { return 16u << 20; }

    void TearDown() override {
        capture_.reset();
        if (!cgroups_) return;
        for (const char* sub : {"/pods/ctr", "/pods", "/outside", ""}) {
            std::string dir = cgroups_->mount_point() + base_ + sub;
            for (int i = 0; i < 50 && std::filesystem::exists(dir); ++i) {
                rmdir(dir.c_str());
                usleep(20000);
            }
        }
    }

    void collect(std::span<const std::byte> batch) {
        Capture::for_each_record(batch, [&](std::span<const std::byte> rec) {
            auto e = decode_event(rec);
            ASSERT_TRUE(e) << e.error();
            Seen s;
            const auto& h = header_of(*e);
            s.type = h.type;
            s.flags = h.flags;
            s.session = h.session_id;
            s.pid = h.pid;
            if (auto* x = std::get_if<ExecEvent>(&*e)) s.argv.assign(x->argv.begin(), x->argv.end());
            if (auto* x = std::get_if<TtyIoEvent>(&*e)) s.data = x->data, s.rows = x->rows, s.cols = x->cols;
            if (auto* x = std::get_if<ExitEvent>(&*e)) s.value = x->exit_code;
            if (auto* x = std::get_if<ExecResultEvent>(&*e)) s.value = x->retval;
            if (auto* x = std::get_if<LostEvent>(&*e)) s.value = static_cast<int32_t>(x->lost_bytes);
            seen_.push_back(std::move(s));
        });
    }

    // `sh` joins the cgroup itself, then execs: it entered from outside (its parent is this test).
    std::vector<std::string> in_cgroup(const std::string& sub, std::vector<std::string> cmd) const {
        std::vector<std::string> argv = {"/bin/sh", "-c",
                                         "echo $$ > " + cgroups_->mount_point() + base_ + sub + "/cgroup.procs && exec \"$@\"",
                                         "sh"};
        argv.insert(argv.end(), cmd.begin(), cmd.end());
        return argv;
    }

    // `pid` is in the cgroup `sub` (it has written itself into cgroup.procs).
    bool joined(const std::string& sub, pid_t pid) const {
        std::istringstream procs(read_file(cgroups_->mount_point() + base_ + sub + "/cgroup.procs"));
        for (std::string line; std::getline(procs, line);)
            if (line == std::to_string(pid)) return true;
        return false;
    }

    void pump(PtyProcess& pty, std::chrono::milliseconds d) {
        io_.run_for(d);
        pty.wait_for("\x01never\x01", 1ms);
    }

    bool pump_until(PtyProcess& pty, const std::function<bool()>& done, std::chrono::seconds timeout = 20s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (done()) return true;
            pump(pty, 20ms);
        }
        return done();
    }

    boost::asio::io_context io_;
    std::unique_ptr<CgroupFs> cgroups_;
    std::string base_;
    std::unique_ptr<Capture> capture_;
    std::vector<Seen> seen_;
};

// exec 4, session 2, and one terminal family: fexit 4 (tty_write/tty_read in and out) or tracepoint 2
TEST_F(BpfCapture, AllProgramsAttach) {
    EXPECT_EQ(capture_->programs_attached(), capture_->tty_hook() == TtyHook::fexit ? 10u : 8u);
}

// The terminal hook: the tty layer's fexit where the kernel allows trampolines, else the syscall
// tracepoint, and never silently. This machine's kernel refuses fexit (the tests say which ran).
class TtyHookChoice : public ::testing::Test {
protected:
    void SetUp() override {
        EA_REQUIRE(missing_privileges());
        ensure_tracefs();
        cgroups_ = std::make_unique<CgroupFs>(CgroupFs::discover());
        base_ = "/execaudit-ttyhook-" + std::to_string(getpid());
        std::filesystem::create_directories(cgroups_->mount_point() + base_);
    }
    void TearDown() override {
        if (!pins_.empty()) remove_pins(pins_);  // pinned links would keep the programs attached
        if (cgroups_) rmdir((cgroups_->mount_point() + base_).c_str());
    }
    std::unique_ptr<Capture> capture(TtyHook hook, std::string pin_dir = "") {
        return std::make_unique<Capture>(
            io_, Capture::Options{.roots = {cgroups_->root_from_argument(base_)}, .pin_dir = std::move(pin_dir), .tty_hook = hook},
            [](std::span<const std::byte>) {});
    }
    boost::asio::io_context io_;
    std::unique_ptr<CgroupFs> cgroups_;
    std::string base_;
    std::string pins_;
};

TEST_F(TtyHookChoice, AutoTakesFexitOrSaysWhyNot) {
    auto automatic = capture(TtyHook::automatic);
    std::cout << "terminal hook on this kernel: " << Capture::tty_hook_name(automatic->tty_hook())
              << (automatic->tty_hook_fallback().empty() ? "" : " (" + automatic->tty_hook_fallback() + ")") << "\n";
    if (automatic->tty_hook() == TtyHook::fexit) {
        EXPECT_EQ(automatic->tty_hook_fallback(), "");
        automatic.reset();
        EXPECT_EQ(capture(TtyHook::fexit)->tty_hook(), TtyHook::fexit);
        return;
    }
    ASSERT_EQ(automatic->tty_hook(), TtyHook::tracepoint);
    EXPECT_NE(automatic->tty_hook_fallback().find("fexit on the tty layer was refused: "), std::string::npos)
        << automatic->tty_hook_fallback();
    automatic.reset();
    // asked for by name, a refusal is an error that says what the kernel said, not a fallback
    try {
        capture(TtyHook::fexit);
        FAIL() << "--tty-hook fexit loaded on a kernel where auto fell back";
    } catch (const RuntimeError& e) {
        EXPECT_NE(std::string(e.what()).find("--tty-hook fexit: the kernel refused"), std::string::npos) << e.what();
    }
}

TEST_F(TtyHookChoice, TracepointWhenAskedWithoutTryingFexit) {
    auto c = capture(TtyHook::tracepoint);
    EXPECT_EQ(c->tty_hook(), TtyHook::tracepoint);
    EXPECT_EQ(c->tty_hook_fallback(), "");
    c->start();
    EXPECT_EQ(c->programs_attached(), 8u);
}

// A refused attempt leaves nothing pinned: the next recorder would take its empty directory for
// an older build's state.
TEST_F(TtyHookChoice, AFallbackLeavesOnlyTheProgramsInUsePinned) {
    pins_ = "/sys/fs/bpf/execaudit-ttyhook-" + std::to_string(getpid());
    auto c = capture(TtyHook::automatic, pins_);
    c->start();
    auto tags = pinned_tags(pins_);
    ASSERT_EQ(tags.size(), 1u);
    EXPECT_EQ(tags[0], c->pin_tag());
}

TEST_F(BpfCapture, SessionEventsInScopeAndNothingElse) {
    // The container's init: first to enter. Its workload execs in a loop and must stay unseen.
    Process init(in_cgroup("/pods/ctr", {"/bin/bash", "-c", "while :; do /bin/true; sleep 0.05; done"}), "/dev/null");
    // A process outside the scope doing exactly what the session does.
    PtyProcess outside(in_cgroup("/outside", {"/bin/bash", "--norc", "--noprofile", "-i"}), 24, 80);
    ASSERT_TRUE(eventually([&] { return joined("/pods/ctr", init.pid()) && joined("/outside", outside.pid()); }, 10s));
    PtyProcess session(in_cgroup("/pods/ctr", {"/bin/bash", "--norc", "--noprofile", "-i"}), 33, 111);

    std::string typed;
    auto type = [&](PtyProcess& p, const std::string& keys, bool record) {
        p.type(keys);
        if (record) typed += keys;
    };
    ASSERT_TRUE(session.wait_for("# ", 10s)) << session.output();  // root prompt
    type(session, "/bin/echo marker-$((6*7))\n", true);
    ASSERT_TRUE(session.wait_for("marker-42\r\n", 10s)) << session.output();
    type(outside, "/bin/echo outside-$((6*7))\n", false);
    ASSERT_TRUE(outside.wait_for("outside-42", 10s));
    type(session, "exit 5\n", true);
    ASSERT_EQ(session.wait(10s), 5);
    type(outside, "exit\n", false);
    outside.wait(10s);

    auto leader_exit = [&] {
        return std::any_of(seen_.begin(), seen_.end(), [](const Seen& s) { return s.type == EA_EV_EXIT && (s.flags & EA_EXIT_LEADER); });
    };
    ASSERT_TRUE(pump_until(session, leader_exit)) << seen_.size() << " events";
    pump(session, 300ms);  // anything stray the workload might (wrongly) produce

    // Exactly one session, started by the exec of bash by the process that entered second.
    std::vector<const Seen*> starts;
    for (const auto& s : seen_)
        if (s.type == EA_EV_EXEC_V2 && (s.flags & EA_EXEC_SESSION_START)) starts.push_back(&s);
    ASSERT_EQ(starts.size(), 1u);
    EXPECT_EQ(starts[0]->argv, (std::vector<std::string>{"/bin/bash", "--norc", "--noprofile", "-i"}));
    EXPECT_EQ(starts[0]->pid, static_cast<uint32_t>(session.pid()));
    uint64_t sid = starts[0]->session;

    std::string output, input;
    bool echo_exec = false;
    int32_t exit_status = -1;
    for (const auto& s : seen_) {
        EXPECT_EQ(s.session, sid) << "an event outside the session, type " << s.type << " pid " << s.pid;
        EXPECT_NE(s.pid, static_cast<uint32_t>(outside.pid()));
        EXPECT_NE(s.pid, static_cast<uint32_t>(init.pid()));
        if (s.type == EA_EV_TTY_IO) {
            (s.flags & EA_IO_INPUT ? input : output) += s.data;
            EXPECT_EQ(s.rows, 33);
            EXPECT_EQ(s.cols, 111);
        }
        if (s.type == EA_EV_EXEC_V2 && s.argv == std::vector<std::string>{"/bin/echo", "marker-42"}) echo_exec = true;
        if (s.type == EA_EV_EXIT && (s.flags & EA_EXIT_LEADER)) exit_status = s.value;
    }
    EXPECT_TRUE(echo_exec);
    EXPECT_NE(output.find("marker-42"), std::string::npos) << output;
    EXPECT_EQ(input, typed);  // every keystroke, exactly once
    EXPECT_EQ(exit_status, 5 << 8);
    auto drops = capture_->drops();
    EXPECT_EQ(drops.events, 0u);
}

TEST_F(BpfCapture, FailedExecHasItsErrno) {
    Process init(in_cgroup("/pods/ctr", {"/bin/sleep", "30"}), "/dev/null");
    ASSERT_TRUE(eventually([&] { return joined("/pods/ctr", init.pid()); }, 10s));  // the init entered first
    PtyProcess session(in_cgroup("/pods/ctr", {"/bin/bash", "--norc", "--noprofile", "-c",
                                               "printf x > /tmp/ea-noexec-$$; /tmp/ea-noexec-$$; rm -f /tmp/ea-noexec-$$; exit 0"}),
                       24, 80);
    ASSERT_EQ(session.wait(10s), 0);
    ASSERT_TRUE(pump_until(session, [&] {
        return std::any_of(seen_.begin(), seen_.end(), [](const Seen& s) { return s.type == EA_EV_EXIT && (s.flags & EA_EXIT_LEADER); });
    }));
    // the exec of the non-executable file is followed by its result, -EACCES
    bool found = false;
    for (size_t i = 0; i < seen_.size(); ++i) {
        if (seen_[i].type != EA_EV_EXEC_V2 || seen_[i].argv.empty() || seen_[i].argv[0].find("/tmp/ea-noexec-") != 0) continue;
        for (size_t k = i + 1; k < seen_.size(); ++k)
            if (seen_[k].type == EA_EV_EXEC_RESULT_V2 && seen_[k].pid == seen_[i].pid) {
                EXPECT_EQ(seen_[k].value, -13);
                found = true;
                break;
            }
    }
    EXPECT_TRUE(found);
}

// A ring far too small for a flood, drained slowly: records are refused, and every refused
// byte is accounted for in gap records. Nothing disappears silently.
class BpfLoss : public BpfCapture {
protected:
    size_t ring_bytes() const override { return 64 * 1024; }
};

TEST_F(BpfLoss, EveryByteIsCapturedOrReportedLost) {
    Process init(in_cgroup("/pods/ctr", {"/bin/sleep", "30"}), "/dev/null");
    ASSERT_TRUE(eventually([&] { return joined("/pods/ctr", init.pid()); }, 10s));  // the init entered first
    constexpr size_t kFlood = 4'000'000;
    PtyProcess session(in_cgroup("/pods/ctr", {"/bin/bash", "-c",
                                               "head -c " + std::to_string(kFlood) + " /dev/zero | tr '\\0' x; sleep 1; exit 0"}),
                       24, 80);
    // Drain only now and then while the flood runs, then keep draining until the end.
    auto leader_exit = [&] {
        return std::any_of(seen_.begin(), seen_.end(), [](const Seen& s) { return s.type == EA_EV_EXIT && (s.flags & EA_EXIT_LEADER); });
    };
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!leader_exit() && std::chrono::steady_clock::now() < deadline) {
        session.wait_for("\x01never\x01", 100ms);  // keeps reading the terminal
        io_.run_for(std::chrono::milliseconds(session.output().size() < kFlood ? 3 : 50));
    }
    ASSERT_TRUE(leader_exit());
    pump(session, 200ms);

    uint64_t captured = 0, lost = 0, gaps = 0;
    for (const auto& s : seen_) {
        if (s.type == EA_EV_TTY_IO && !(s.flags & EA_IO_INPUT)) captured += s.data.size();
        if (s.type == EA_EV_LOST) {
            ++gaps;
            lost += s.value;
        }
    }
    auto drops = capture_->drops();
    EXPECT_GT(gaps, 0u) << "the flood should not fit a 64 KiB ring";
    EXPECT_GT(drops.events, 0u);
    EXPECT_EQ(captured + lost, kFlood) << captured << " captured + " << lost << " reported lost";
}

}  // namespace
