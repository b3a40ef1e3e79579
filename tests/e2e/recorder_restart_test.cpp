// Sessions survive the recorder: the kernel-side state is pinned in bpffs, so a recorder that is
// killed, stopped for an upgrade, or replaced by another build is continued by the next one.
// Real BPF, a real container, the real CLI; each test has its own pin directory (PinDirLease).
#include "tests/support/node_test.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <set>

using namespace execaudit::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

class RecorderRestart : public NodeTest {
protected:
    void SetUp() override {
        NodeTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        pins_ = std::make_unique<PinDirLease>(db_);  // the kernel state outlives each recorder
    }
    void TearDown() override {
        NodeTest::TearDown();
        pins_.reset();
    }

    void start_recorder(std::vector<std::string> extra = {}) {
        recorder_.reset();
        recorder_ = std::make_unique<Recorder>(*bed_, db_, extra);
    }

    json only_session() {
        json list = list_sessions(db_);
        EXPECT_EQ(list.size(), 1u) << list.dump(2);
        return list.empty() ? json::object() : list[0];
    }

    static bool has_command(const json& shown, const std::vector<std::string>& argv) {
        for (const auto& c : shown["timeline"])
            if (c["argv"].get<std::vector<std::string>>() == argv) return true;
        return false;
    }

    /// Waits until the session's timeline holds `argv` (committed by the running recorder).
    ::testing::AssertionResult stored(const std::vector<std::string>& argv) {
        bool ok = eventually([&] {
            json list = list_sessions(db_);
            return list.size() == 1 && has_command(show_session(db_, list[0]["id"]), argv);
        }, 30s);
        if (ok) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << json(argv).dump() << " never stored:\n" << recorder_->log();
    }

    /// The tag directories under the pin directory.
    std::set<std::string> tags() const {
        std::set<std::string> out;
        std::error_code ec;
        for (fs::directory_iterator it(pins_->path(), ec), end; !ec && it != end; it.increment(ec))
            out.insert(it->path().filename().string());
        return out;
    }

    /// The ids of the programs the pinned links hold.
    std::set<int64_t> pinned_program_ids() const {
        std::set<int64_t> out;
        std::error_code ec;
        for (fs::recursive_directory_iterator it(pins_->path(), ec), end; !ec && it != end; it.increment(ec)) {
            if (it->path().parent_path().filename() != "links") continue;
            auto r = run({"bpftool", "-j", "link", "show", "pinned", it->path().string()});
            if (r.exit_code == 0) out.insert(json::parse(r.out)["prog_id"].get<int64_t>());
        }
        return out;
    }

    static bool program_loaded(int64_t id) { return run({"bpftool", "prog", "show", "id", std::to_string(id)}).exit_code == 0; }

    std::vector<std::string> required_programs() const override { return {"bpftool"}; }

    std::unique_ptr<PinDirLease> pins_;
};

TEST_F(RecorderRestart, WhatIsTypedAfterAKilledRecorderIsInTheSameSession) {
    start_recorder();
    PtyProcess shell(bed_->exec_tty(container_, "kill-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    ASSERT_TRUE(run_in(shell, "/bin/echo before-kill"));
    ASSERT_TRUE(stored({"/bin/echo", "before-kill"}));
    recorder_->process().signal(SIGKILL);  // no flush, no clean stop
    ASSERT_TRUE(recorder_->process().wait(10s));

    // nobody drains now: the programs go on and the ring holds it
    ASSERT_TRUE(run_in(shell, "/bin/echo while-nobody-records"));
    start_recorder();
    EXPECT_NE(recorder_->log().find("1 open sessions continue"), std::string::npos) << recorder_->log();
    ASSERT_TRUE(run_in(shell, "/bin/echo after-$((40+2))"));
    ASSERT_TRUE(stored({"/bin/echo", "after-42"}));
    shell.type("exit 3\r");
    ASSERT_EQ(shell.wait(20s), 3);
    ASSERT_TRUE(eventually([&] { return only_session()["status"] == "ended"; }, 30s)) << recorder_->log();
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();

    json s = only_session();
    EXPECT_EQ(s["status"], "ended");
    EXPECT_EQ(s["exit_code"], 3);
    // the killed recorder's unstored tail is one counted gap, never silence
    EXPECT_GE(s["lost_events"].get<uint64_t>(), 1u);
    json shown = show_session(db_, s["id"]);
    EXPECT_TRUE(has_command(shown, {"/bin/echo", "before-kill"}));
    EXPECT_TRUE(has_command(shown, {"/bin/echo", "while-nobody-records"}));
    EXPECT_TRUE(has_command(shown, {"/bin/echo", "after-42"}));
    auto play = run({execaudit_bin(), "play", s["id"], "--cat", "--db", db_});
    ASSERT_EQ(play.exit_code, 0) << play.err;
    EXPECT_NE(play.out.find("\nwhile-nobody-records\n"), std::string::npos) << play.out;
    EXPECT_NE(play.out.find("\nafter-42\n"), std::string::npos) << play.out;
    EXPECT_NE(play.out.find("exit 3"), std::string::npos) << play.out;
    EXPECT_NE(play.err.find("the recorder was not following this session between"), std::string::npos) << play.err;
    auto cast = run({execaudit_bin(), "export", "--format", "asciicast", "--session", s["id"], "--db", db_});
    EXPECT_EQ(cast.exit_code, 0) << cast.err;
    EXPECT_NE(cast.out.find("the recorder was not following this session"), std::string::npos) << cast.out;
}

TEST_F(RecorderRestart, AStopForAnUpgradeLosesNothingAndDetachRemovesEverything) {
    start_recorder();
    PtyProcess shell(bed_->exec_tty(container_, "upgrade-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    size_t typed = 0;
    ASSERT_TRUE(run_in(shell, "/bin/echo before-upgrade", 60s, &typed));
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();
    EXPECT_EQ(only_session()["status"], "open");  // left to the next recorder, not interrupted

    ASSERT_TRUE(run_in(shell, "/bin/echo during-upgrade", 60s, &typed));  // nobody records
    start_recorder();
    EXPECT_EQ(recorder_->log().find("did not stop cleanly"), std::string::npos) << recorder_->log();
    ASSERT_TRUE(run_in(shell, "/bin/echo after-upgrade", 60s, &typed));
    ASSERT_TRUE(stored({"/bin/echo", "after-upgrade"}));
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();

    json s = only_session();
    EXPECT_EQ(s["status"], "open");
    EXPECT_EQ(s["lost_events"], 0);
    EXPECT_EQ(s["lost_bytes"], 0);
    EXPECT_EQ(s["input_bytes"], typed);  // every keystroke, exactly once, across the two recorders
    json shown = show_session(db_, s["id"]);
    for (const char* word : {"before-upgrade", "during-upgrade", "after-upgrade"}) {
        EXPECT_TRUE(has_command(shown, {"/bin/echo", word})) << word;
        EXPECT_NE(play_cat(db_, s["id"]).find(std::string("\n") + word + "\n"), std::string::npos) << word;
    }

    // Uninstall: the programs go with their pins, and the session's recording ends.
    auto programs = pinned_program_ids();
    ASSERT_EQ(programs.size(), 8u);
    for (auto id : programs) EXPECT_TRUE(program_loaded(id)) << id;
    auto detach = run({execaudit_bin(), "detach", "--bpf-pin-dir", pins_->path(), "--db", db_});
    ASSERT_EQ(detach.exit_code, 0) << detach.err << detach.out;
    EXPECT_NE(detach.out.find("1 open sessions"), std::string::npos) << detach.out;
    EXPECT_FALSE(fs::exists(pins_->path()));
    // the kernel frees a program once RCU lets go of its last link
    for (auto id : programs)
        EXPECT_TRUE(eventually([&] { return !program_loaded(id); }, 20s)) << "program " << id << " is still loaded after detach";
    EXPECT_EQ(only_session()["status"], "interrupted");
    shell.type("exit\r");
    shell.wait(20s);
}

TEST_F(RecorderRestart, ASessionOlderThanTheFirstRecorderIsAdopted) {
    PtyProcess shell(bed_->exec_tty(container_, "early-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    ASSERT_TRUE(run_in(shell, "/bin/echo before-any-recorder"));
    // a member that already runs: a subshell waiting for a file, which then runs a command
    ASSERT_TRUE(run_in(shell, "rm -f /tmp/go-early-1; (while [ ! -e /tmp/go-early-1 ]; do sleep 0.1; done; "
                              "/bin/echo from-an-older-child) & true"));
    start_recorder();
    size_t typed = 0;
    ASSERT_TRUE(run_in(shell, "bash -c '/bin/echo adopted-$((6*7))'", 60s, &typed));  // a child forked after adoption
    ASSERT_TRUE(stored({"/bin/echo", "adopted-42"}));
    size_t from = shell.output().size();
    typed += shell.type("touch /tmp/go-early-1; wait\r");
    ASSERT_TRUE(shell.wait_for("from-an-older-child", 20s, from)) << shell.output().substr(from);
    ASSERT_TRUE(stored({"/bin/echo", "from-an-older-child"}));
    typed += shell.type("exit 5\r");
    ASSERT_EQ(shell.wait(20s), 5);
    ASSERT_TRUE(eventually([&] { return only_session()["status"] == "ended"; }, 30s)) << recorder_->log();
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();

    json s = only_session();
    EXPECT_EQ(s["entered_via"], "adopted");
    EXPECT_EQ(s["command"], json::array({"/bin/bash", "--norc"}));
    EXPECT_EQ(s["pod"], "web-7f9c");
    EXPECT_EQ(s["container"], "app");
    EXPECT_EQ(s["tty"], true);
    EXPECT_EQ(s["exit_code"], 5);
    EXPECT_GE(s["lost_events"].get<uint64_t>(), 1u);  // the time before it is a counted gap
    EXPECT_EQ(s["input_bytes"], typed);
    json shown = show_session(db_, s["id"]);
    EXPECT_TRUE(has_command(shown, {"bash", "-c", "/bin/echo adopted-$((6*7))"}));
    EXPECT_TRUE(has_command(shown, {"/bin/echo", "adopted-42"}));
    EXPECT_TRUE(has_command(shown, {"/bin/echo", "from-an-older-child"}));
    EXPECT_FALSE(has_command(shown, {"/bin/echo", "before-any-recorder"}));  // never seen: inside the gap
    auto play = run({execaudit_bin(), "play", s["id"], "--cat", "--db", db_});
    ASSERT_EQ(play.exit_code, 0) << play.err;
    EXPECT_NE(play.out.find("\nadopted-42\n"), std::string::npos) << play.out;
    EXPECT_NE(play.err.find("the recorder was not following this session between +00:00.0"), std::string::npos) << play.err;
}

TEST_F(RecorderRestart, ARecorderRefusesAPinDirectoryAnotherOneHolds) {
    start_recorder();
    auto second = run({execaudit_bin(), "record", "--db", dir_.file("other.db"), "--cgroup-root", bed_->cgroup_root(),
                       "--bpf-pin-dir", pins_->path()}, 60s);
    EXPECT_EQ(second.exit_code, 1);
    EXPECT_NE(second.err.find("one recorder per pin directory"), std::string::npos) << second.err;
    auto detach = run({execaudit_bin(), "detach", "--bpf-pin-dir", pins_->path()});
    EXPECT_NE(detach.exit_code, 0);  // never under a running recorder
    EXPECT_TRUE(fs::exists(pins_->path()));
}

TEST_F(RecorderRestart, AnUpgradeToAnotherBuildContinuesTheSessions) {
    // Another ring size is another tag: the maps of the first set cannot be reused, their state is
    // taken over and their programs replaced, as for a new build.
    start_recorder({"--bpf-pin-dir", pins_->path(), "--ring-buffer-mb", "8"});
    PtyProcess shell(bed_->exec_tty(container_, "build-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    size_t typed = 0;
    ASSERT_TRUE(run_in(shell, "/bin/echo old-build", 60s, &typed));
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();
    auto old_tags = tags();
    auto old_programs = pinned_program_ids();
    ASSERT_EQ(old_tags.size(), 1u);
    ASSERT_EQ(old_programs.size(), 8u);

    ASSERT_TRUE(run_in(shell, "/bin/echo between-builds", 60s, &typed));  // in the old ring
    start_recorder({"--bpf-pin-dir", pins_->path(), "--ring-buffer-mb", "16"});
    EXPECT_NE(recorder_->log().find("replaced the programs of an earlier build"), std::string::npos) << recorder_->log();
    ASSERT_TRUE(run_in(shell, "bash -c '/bin/echo new-build'", 60s, &typed));  // a child: membership was taken over
    ASSERT_TRUE(stored({"/bin/echo", "new-build"}));
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();

    auto new_tags = tags();
    ASSERT_EQ(new_tags.size(), 1u);
    EXPECT_NE(*new_tags.begin(), *old_tags.begin());
    for (auto id : old_programs)
        EXPECT_TRUE(eventually([&] { return !program_loaded(id); }, 20s)) << "the old build's program " << id << " still runs";
    json s = only_session();
    EXPECT_EQ(s["status"], "open");
    EXPECT_EQ(s["lost_events"], 0);
    EXPECT_EQ(s["input_bytes"], typed);
    json shown = show_session(db_, s["id"]);
    for (const char* word : {"old-build", "between-builds", "new-build"}) EXPECT_TRUE(has_command(shown, {"/bin/echo", word})) << word;
    shell.type("exit\r");
    shell.wait(20s);
}

}  // namespace
