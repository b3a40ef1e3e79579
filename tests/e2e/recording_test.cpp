// End to end with real containerd + runc: `ctr task exec` is the node half of `kubectl exec`.
// The recorder runs as a real process; every assertion reads what the CLI reports, as a user would.
#include "tests/support/node_test.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <set>

using namespace execaudit::testing;
using nlohmann::json;

namespace {

class Recording : public NodeTest {
protected:
    void start_recorder(std::vector<std::string> extra = {}) { recorder_ = std::make_unique<Recorder>(*bed_, db_, extra); }
    void stop_recorder() {
        ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();
    }

    json only_session(const std::vector<std::string>& filters = {}) {
        json list = list_sessions(db_, filters);
        EXPECT_EQ(list.size(), 1u) << list.dump(2);
        return list.empty() ? json::object() : list[0];
    }

    static std::vector<std::vector<std::string>> argvs(const json& timeline) {
        std::vector<std::vector<std::string>> out;
        for (const auto& c : timeline) out.push_back(c["argv"].get<std::vector<std::string>>());
        return out;
    }

    static const json* find_command(const json& timeline, const std::vector<std::string>& argv) {
        for (const auto& c : timeline)
            if (c["argv"].get<std::vector<std::string>>() == argv) return &c;
        return nullptr;
    }

};

TEST_F(Recording, InteractiveSession) {
    start_recorder();
    PtyProcess shell(bed_->exec_tty(container_, "alice-1", {"/bin/bash", "--norc"}), 30, 100);
    ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
    size_t typed = 0;
    ASSERT_TRUE(run_in(shell, "echo marker-$((6*7))", 60s, &typed));
    ASSERT_TRUE(run_in(shell, "ls /usr | head -2", 60s, &typed));                        // a pipeline
    ASSERT_TRUE(run_in(shell, "printf 'echo x' > /tmp/noexec.sh; /tmp/noexec.sh", 60s, &typed));  // a failed exec
    ASSERT_TRUE(run_in(shell, "bash -c 'cat /etc/hostname > /dev/null; exit 0'", 60s, &typed));   // a child shell
    ASSERT_TRUE(run_in(shell, "seq 1 200000", 60s, &typed));                             // 1.3 MB through the pty
    typed += shell.type("exit 42\r");
    ASSERT_EQ(shell.wait(30s), 42);
    stop_recorder();

    json s = only_session();
    EXPECT_EQ(s["namespace"], "shop");
    EXPECT_EQ(s["pod"], "web-7f9c");
    EXPECT_EQ(s["container"], "app");
    EXPECT_EQ(s["container_id"], container_);
    EXPECT_EQ(s["node"], "test-node");
    EXPECT_EQ(s["status"], "ended");
    EXPECT_EQ(s["exit_code"], 42);
    EXPECT_EQ(s["tty"], true);
    EXPECT_EQ(s["command"], json::array({"/bin/bash", "--norc"}));
    EXPECT_EQ(s["attribution"], "pending");
    EXPECT_EQ(s["input_bytes"], typed);  // every keystroke, exactly once
    EXPECT_GE(s["output_bytes"].get<uint64_t>(), 1288895u);  // `seq 1 200000 | wc -c`
    EXPECT_LE(s["output_bytes"].get<uint64_t>(), 1288895u + 8000u);
    EXPECT_EQ(s["lost_bytes"], 0);
    EXPECT_EQ(s["lost_events"], 0);
    EXPECT_FALSE(s["end"].is_null());

    json shown = show_session(db_, s["id"]);
    EXPECT_EQ(shown["rows"], 30);
    EXPECT_EQ(shown["cols"], 100);
    const json& timeline = shown["timeline"];
    EXPECT_EQ(s["commands"], timeline.size());
    ASSERT_NE(find_command(timeline, {"/bin/bash", "--norc"}), nullptr);
    EXPECT_EQ((*find_command(timeline, {"/bin/bash", "--norc"}))["seq"], 0);
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"ls", "/usr"}, {"head", "-2"}, {"bash", "-c", "cat /etc/hostname > /dev/null; exit 0"}, {"cat", "/etc/hostname"},
             {"seq", "1", "200000"}}) {
        const json* c = find_command(timeline, argv);
        ASSERT_NE(c, nullptr) << "missing " << json(argv).dump() << " in " << json(argvs(timeline)).dump();
        EXPECT_EQ((*c)["retval"], 0) << json(argv).dump();
    }
    const json* failed = find_command(timeline, {"/tmp/noexec.sh"});
    ASSERT_NE(failed, nullptr);
    EXPECT_EQ((*failed)["retval"], -13);  // EACCES: no execute bit
    // the child shell's command has the child shell as its parent
    const json* child = find_command(timeline, {"bash", "-c", "cat /etc/hostname > /dev/null; exit 0"});
    EXPECT_EQ((*find_command(timeline, {"cat", "/etc/hostname"}))["ppid"], (*child)["pid"]);

    std::string screen = play_cat(db_, s["id"]);
    EXPECT_NE(screen.find("\n199999\n200000\n"), std::string::npos) << screen;
    EXPECT_NE(screen.find("exit 42"), std::string::npos);
    EXPECT_EQ(screen.find('\x1b'), std::string::npos);
}

TEST_F(Recording, NonTtyExec) {
    start_recorder();
    auto r = run(bed_->ctr({"task", "exec", "--exec-id", "job-1", container_, "/bin/sh", "-c",
                            "echo out; /bin/true; ls /nonexistent; exit 4"}));
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_EQ(r.out, "out\n");
    ASSERT_TRUE(eventually([&] { return list_sessions(db_, {}).size() == 1 && list_sessions(db_)[0]["status"] == "ended"; }));
    stop_recorder();
    json s = only_session();
    EXPECT_EQ(s["tty"], false);
    EXPECT_EQ(s["exit_code"], 4);
    EXPECT_EQ(s["output_bytes"], 0);  // pipe output of non-tty sessions is not captured (yet)
    json timeline = show_session(db_, s["id"])["timeline"];
    EXPECT_EQ(argvs(timeline), (std::vector<std::vector<std::string>>{
                                   {"/bin/sh", "-c", "echo out; /bin/true; ls /nonexistent; exit 4"},
                                   {"/bin/true"},
                                   {"ls", "/nonexistent"}}));
    // play --cat on a non-tty session explains itself and succeeds
    auto cat = run({execaudit_bin(), "play", s["id"], "--cat", "--db", db_});
    EXPECT_EQ(cat.exit_code, 0);
    EXPECT_NE(cat.err.find("no terminal"), std::string::npos);
}

TEST_F(Recording, WorkloadIsNeverRecorded) {
    // A second container whose own workload execs in a loop and writes to its own terminal.
    std::string busy = bed_->run_container("shop", "busy", "worker",
                                           {"/bin/bash", "-c", "while :; do /bin/echo tick; /bin/sleep 0.1; done"}, true);
    start_recorder();
    PtyProcess shell(bed_->exec_tty(container_, "bob-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    ASSERT_TRUE(run_in(shell, "/bin/echo inside"));
    std::this_thread::sleep_for(1500ms);  // ~15 loop iterations of the workload
    shell.type("exit\r");
    ASSERT_EQ(shell.wait(20s), 0);
    stop_recorder();

    json list = list_sessions(db_);
    ASSERT_EQ(list.size(), 1u) << list.dump(2);
    EXPECT_EQ(list[0]["container"], "app");
    EXPECT_EQ(list_sessions(db_, {"--container", "worker"}).size(), 0u);
    EXPECT_EQ(list_sessions(db_, {"--command", "tick"}).size(), 0u);
    json timeline = show_session(db_, list[0]["id"])["timeline"];
    for (const auto& argv : argvs(timeline)) EXPECT_NE(argv[0], "/bin/sleep") << json(argv).dump();
    EXPECT_EQ(play_cat(db_, list[0]["id"]).find("tick"), std::string::npos);
}

TEST_F(Recording, TwoSessionsAtOnceStayApart) {
    start_recorder();
    PtyProcess a(bed_->exec_tty(container_, "a", {"/bin/bash", "--norc"}), 24, 80);
    PtyProcess b(bed_->exec_tty(container_, "b", {"/bin/sh"}), 25, 90);
    ASSERT_TRUE(a.wait_for("# ", 20s));
    ASSERT_TRUE(b.wait_for("# ", 20s));
    for (int i = 0; i < 3; ++i) {  // interleaved
        ASSERT_TRUE(run_in(a, "/bin/echo alpha-$((" + std::to_string(i) + "+100))"));
        ASSERT_TRUE(run_in(b, "/bin/echo beta-$((" + std::to_string(i) + "+200))"));
    }
    a.type("exit 1\r");
    b.type("exit 2\r");
    ASSERT_EQ(a.wait(20s), 1);
    ASSERT_EQ(b.wait(20s), 2);
    stop_recorder();

    json list = list_sessions(db_);
    ASSERT_EQ(list.size(), 2u);
    for (const auto& s : list) {
        bool is_a = s["command"][0] == "/bin/bash";
        EXPECT_EQ(s["exit_code"], is_a ? 1 : 2);
        EXPECT_EQ(s["cols"], is_a ? 80 : 90);
        std::string screen = play_cat(db_, s["id"]);
        json timeline = show_session(db_, s["id"])["timeline"];
        for (int i = 0; i < 3; ++i) {
            std::string mine = (is_a ? "alpha-" : "beta-") + std::to_string(i + (is_a ? 100 : 200));
            std::string theirs = (is_a ? "beta-" : "alpha-") + std::to_string(i + (is_a ? 200 : 100));
            EXPECT_NE(screen.find(mine), std::string::npos) << screen;
            EXPECT_EQ(screen.find(theirs), std::string::npos) << screen;
            EXPECT_NE(find_command(timeline, {"/bin/echo", mine}), nullptr);
            EXPECT_EQ(find_command(timeline, {"/bin/echo", theirs}), nullptr);
        }
    }
}

TEST_F(Recording, FullScreenAndBinaryOutput) {
    start_recorder();
    PtyProcess shell(bed_->exec_tty(container_, "fs", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    ASSERT_TRUE(run_in(shell, "top -b -n 1 | head -5"));
    // the alternate screen, a title change, a clear and a terminal reset, like a full-screen program
    ASSERT_TRUE(run_in(shell, "printf '\\033[?1049h\\033]0;owned\\007\\033[2Jfullscreen\\033[?1049l'"));
    ASSERT_TRUE(run_in(shell, "head -c 300000 /dev/urandom"));
    ASSERT_TRUE(run_in(shell, "printf '\\033c'; echo after-binary"));
    shell.type("exit\r");
    ASSERT_EQ(shell.wait(20s), 0);
    stop_recorder();
    json s = only_session();
    EXPECT_GE(s["output_bytes"].get<uint64_t>(), 300000u);
    EXPECT_EQ(s["lost_bytes"], 0);
    std::string screen = play_cat(db_, s["id"]);
    EXPECT_NE(screen.find("after-binary"), std::string::npos) << screen;
    for (unsigned char c : screen) ASSERT_TRUE(c >= 0x20 || c == '\n') << "control byte " << int(c);
    EXPECT_NE(find_command(show_session(db_, s["id"])["timeline"], {"top", "-b", "-n", "1"}), nullptr);
}

TEST_F(Recording, StoppedRecorderInterruptsOpenSessions) {
    start_recorder({"--no-bpf-pin"});  // pinned, a stop leaves the session to the next recorder (recorder_restart_test)
    PtyProcess shell(bed_->exec_tty(container_, "long", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    ASSERT_TRUE(run_in(shell, "/bin/echo before-stop"));
    stop_recorder();  // the session goes on; the record of it ends here
    json s = only_session();
    EXPECT_EQ(s["status"], "interrupted");
    EXPECT_FALSE(s["end"].is_null());
    EXPECT_TRUE(s["exit_code"].is_null());
    EXPECT_NE(play_cat(db_, s["id"]).find("before-stop"), std::string::npos);

    shell.type("exit\r");
    shell.wait(20s);
}

TEST_F(Recording, KilledRecorderLeavesNothingOpen) {
    start_recorder({"--no-bpf-pin"});  // pinned, the next recorder continues it (recorder_restart_test)
    PtyProcess shell(bed_->exec_tty(container_, "crash", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    ASSERT_TRUE(run_in(shell, "/bin/echo before-crash"));
    // what the kill must not take back: the command and its output, committed
    ASSERT_TRUE(eventually([&] {
        json list = list_sessions(db_);
        if (list.size() != 1) return false;
        std::string id = list[0]["id"];
        return find_command(show_session(db_, id)["timeline"], {"/bin/echo", "before-crash"}) != nullptr &&
               play_cat(db_, id).find("\nbefore-crash\n") != std::string::npos;
    }, 30s)) << recorder_->log();
    recorder_->process().signal(SIGKILL);  // no chance to flush or close anything
    ASSERT_TRUE(recorder_->process().wait(10s));
    start_recorder({"--no-bpf-pin"});  // closes what the killed one left open, and adopts the shell anew
    stop_recorder();
    shell.type("exit\r");
    shell.wait(20s);
    json list = list_sessions(db_);
    ASSERT_EQ(list.size(), 2u) << list.dump(2);
    json s = list[0]["entered_via"] == "adopted" ? list[1] : list[0];
    json adopted = list[0]["entered_via"] == "adopted" ? list[0] : list[1];
    EXPECT_EQ(adopted["entered_via"], "adopted");
    EXPECT_EQ(adopted["leader_pid"], s["leader_pid"]);
    EXPECT_EQ(adopted["status"], "interrupted");
    EXPECT_EQ(s["status"], "interrupted");
    EXPECT_FALSE(s["end"].is_null());
    EXPECT_NE(play_cat(db_, s["id"]).find("\nbefore-crash\n"), std::string::npos);
    EXPECT_NE(find_command(show_session(db_, s["id"])["timeline"], {"/bin/echo", "before-crash"}), nullptr);
}

TEST_F(Recording, RecorderRefusesBadConfiguration) {
    auto r = run({execaudit_bin(), "record", "--db", db_, "--cgroup-root", "/no/such/cgroup"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("/no/such/cgroup"), std::string::npos) << r.err;
    auto bad_db = run({execaudit_bin(), "record", "--db", "/proc/version", "--cgroup-root", bed_->cgroup_root()});
    EXPECT_EQ(bad_db.exit_code, 2) << bad_db.err;
}

}  // namespace
