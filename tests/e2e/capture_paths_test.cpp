// Capture against the person it records (issue 10), with real containers and the real recorder:
// every path that moves terminal bytes is captured or counted, one session cannot blind the
// others, a password is not kept, the echo the user saw is replayed, static pods are named.
#include "tests/support/node_test.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

using namespace execaudit::testing;
using nlohmann::json;

namespace {

// Run inside the container by /usr/bin/python3 (the host's /usr): terminal I/O by the paths
// tp/syscalls never showed. Every marker is computed, so the typed command line never holds it.
constexpr const char* kPathsScript = R"py(
import ctypes, os, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
for f in (libc.pwritev2, libc.preadv2):
    f.argtypes = [ctypes.c_int, ctypes.POINTER(iovec), ctypes.c_int, ctypes.c_long, ctypes.c_int]
what = sys.argv[1]
if what == "pwritev2":  # offset -1: the file position, which is how a tty takes it
    b = b"pwritev2-%d\n" % (6 * 7)
    buf = ctypes.create_string_buffer(b, len(b))
    libc.pwritev2(1, ctypes.byref(iovec(ctypes.cast(buf, ctypes.c_void_p), len(b))), 1, -1, 0)
elif what == "preadv2":  # a canonical-mode read: the tty echoes the line, not the process
    sys.stdout.write("ready>"); sys.stdout.flush()
    buf = ctypes.create_string_buffer(256)
    n = libc.preadv2(0, ctypes.byref(iovec(ctypes.cast(buf, ctypes.c_void_p), 256)), 1, -1, 0)
    print("got %d" % n)
elif what == "sendfile":
    with open("/tmp/ea-sendfile", "wb") as f: f.write(b"sendfile-%d\n" % (6 * 7))
    fd = os.open("/tmp/ea-sendfile", os.O_RDONLY)
    os.sendfile(1, fd, 0, 12)
elif what == "splice":
    r, w = os.pipe()
    os.write(w, b"splice-%d\n" % (6 * 7))
    os.splice(r, 1, 10)
elif what == "memfd":  # fileless: a binary that exists only in memory, with an innocent argv
    fd = os.memfd_create("payload")
    with open("/usr/bin/true", "rb") as f: os.write(fd, f.read())
    os.execv("/proc/self/fd/%d" % fd, ["innocent"])
elif what == "park":  # threads parked in read(0): more than the old in-flight table held
    threading.stack_size(65536)
    n = int(sys.argv[2])
    for _ in range(n):
        threading.Thread(target=os.read, args=(0, 1), daemon=True).start()
    print("parked-%d" % n, flush=True)
    time.sleep(3600)
)py";

class CapturePaths : public NodeTest {
protected:
    void SetUp() override {
        NodeTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        std::ofstream(bed_->rootfs() + "/tmp/paths.py") << kPathsScript;
        for (const char* helper : {EA_INT80_WRITE, EA_URING_WRITE}) {
            std::string to = bed_->rootfs() + "/tmp/" + std::filesystem::path(helper).filename().string();
            std::filesystem::copy_file(helper, to, std::filesystem::copy_options::overwrite_existing);
        }
    }

    json only_session(const std::vector<std::string>& filters = {}) {
        json list = list_sessions(db_, filters);
        EXPECT_EQ(list.size(), 1u) << list.dump(2);
        return list.empty() ? json::object() : list[0];
    }

    // Every terminal frame as stored: io_chunks read with sqlite3, zstd chunks inflated by zstd.
    std::string stored_frames() {
        auto rows = run({"sqlite3", db_, "SELECT encoding || ' ' || hex(data) FROM io_chunks ORDER BY session_id, seq"});
        EXPECT_EQ(rows.exit_code, 0) << rows.err;
        std::string all;
        std::istringstream in(rows.out);
        for (std::string line; std::getline(in, line);) {
            std::string bytes;
            for (size_t i = 2; i + 1 < line.size(); i += 2) bytes.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
            if (line[0] == '1') {
                std::string file = dir_.file("chunk.zst");
                std::ofstream(file, std::ios::binary) << bytes;
                auto raw = run({"zstd", "-d", "-c", "-q", file});
                EXPECT_EQ(raw.exit_code, 0) << raw.err;
                bytes = raw.out;
            }
            all += bytes;
        }
        return all;
    }

    std::string database_bytes() {
        std::string all;
        for (const char* suffix : {"", "-wal"})
            if (std::filesystem::exists(db_ + suffix)) all += read_file(db_ + suffix);
        return all;
    }
};

TEST_F(CapturePaths, EveryTerminalPathIsCapturedOrCounted) {
    recorder_ = std::make_unique<Recorder>(*bed_, db_);
    PtyProcess shell(bed_->exec_tty(container_, "paths-1", {"/bin/bash", "--norc"}), 24, 100);
    ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
    size_t typed = 0;
    // captured: the positional v2 forms (offset -1), and a write through the ia32 table
    ASSERT_TRUE(run_in(shell, "python3 /tmp/paths.py pwritev2", 60s, &typed));
    ASSERT_TRUE(run_in(shell, "/tmp/ea_int80_write int80-$((6*7))", 60s, &typed));
    // a canonical read through preadv2: the typed line is echoed by the tty itself
    size_t from = shell.output().size();
    typed += shell.type("python3 /tmp/paths.py preadv2\r");
    ASSERT_TRUE(shell.wait_for("ready>", 20s, from)) << shell.output().substr(from);
    typed += shell.type("typed-line-xyz\r");
    ASSERT_TRUE(shell.wait_for("got 15", 20s, from)) << shell.output().substr(from);
    // counted: bytes that come from another file or from io_uring; the user still sees them
    ASSERT_TRUE(run_in(shell, "python3 /tmp/paths.py sendfile", 60s, &typed));
    ASSERT_TRUE(run_in(shell, "python3 /tmp/paths.py splice", 60s, &typed));
    ASSERT_TRUE(run_in(shell, "/tmp/ea_uring_write uring-$((6*7))", 60s, &typed));
    for (const char* seen : {"pwritev2-42", "int80-42", "sendfile-42", "splice-42", "uring-42"})
        EXPECT_NE(shell.output().find(seen), std::string::npos) << seen << " never reached the terminal";
    typed += shell.type("exit\r");
    ASSERT_EQ(shell.wait(30s), 0);
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();

    json s = only_session();
    std::string screen = play_cat(db_, s["id"]);
    EXPECT_NE(screen.find("pwritev2-42"), std::string::npos) << screen;
    EXPECT_NE(screen.find("int80-42"), std::string::npos) << screen;
    EXPECT_NE(screen.find("ready>typed-line-xyz"), std::string::npos) << screen;  // where the user saw it
    EXPECT_NE(screen.find("got 15"), std::string::npos) << screen;
    for (const char* missing : {"sendfile-42", "splice-42", "uring-42"})
        EXPECT_EQ(screen.find(missing), std::string::npos) << missing << " cannot be captured, only counted";
    // never both 0: exactly what they moved is counted, one gap each
    EXPECT_EQ(s["lost_bytes"], 12 + 10 + 9) << s.dump(2);
    EXPECT_EQ(s["lost_events"], 3) << s.dump(2);
    EXPECT_EQ(s["input_bytes"], typed);  // the preadv2 line too
    std::string log = recorder_->log();
    for (const char* path : {"through sendfile", "through splice", "through io_uring"})
        EXPECT_NE(log.find(path), std::string::npos) << path << "\n" << log;
    auto cat = run({execaudit_bin(), "play", s["id"], "--cat", "--db", db_});
    EXPECT_NE(cat.err.find("3 gaps"), std::string::npos) << cat.err;
}

TEST_F(CapturePaths, AThreadFloodInOneSessionDoesNotBlindAnother) {
    recorder_ = std::make_unique<Recorder>(*bed_, db_);
    PtyProcess flood(bed_->exec_tty(container_, "flood-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(flood.wait_for("# ", 20s));
    size_t from = flood.output().size();
    flood.type("python3 /tmp/paths.py park 16500\r");
    ASSERT_TRUE(flood.wait_for("parked-16500", 120s, from)) << flood.output().substr(from);

    PtyProcess other(bed_->exec_tty(container_, "other-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(other.wait_for("# ", 20s));
    ASSERT_TRUE(run_in(other, "/bin/echo still-seen-$((6*7))"));
    other.type("exit\r");
    ASSERT_EQ(other.wait(20s), 0);
    from = flood.output().size();
    flood.type("\x03");  // SIGINT: python ends, its parked threads with it
    ASSERT_TRUE(flood.wait_for("KeyboardInterrupt", 60s, from)) << flood.output().substr(from);
    ASSERT_TRUE(flood.wait_for("# ", 60s, flood.output().find("KeyboardInterrupt", from))) << flood.output().substr(from);
    flood.type("exit\r");
    flood.wait(30s);
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();

    json list = list_sessions(db_);
    ASSERT_EQ(list.size(), 2u) << list.dump(2);
    int others = 0;
    for (const auto& s : list) {
        bool is_other = false;
        json shown = show_session(db_, s["id"]);
        for (const auto& c : shown["timeline"])
            is_other = is_other || c["argv"].get<std::vector<std::string>>() == std::vector<std::string>{"/bin/echo", "still-seen-42"};
        if (!is_other) continue;
        ++others;
        EXPECT_NE(play_cat(db_, s["id"]).find("still-seen-42"), std::string::npos) << "the flood blinded this session";
        EXPECT_EQ(s["lost_bytes"], 0);
    }
    EXPECT_EQ(others, 1) << list.dump(2);
}

TEST_F(CapturePaths, APasswordIsNotKeptButReadlineInputIs) {
    auto type_password = [&](PtyProcess& shell) {
        size_t from = shell.output().size();
        shell.type("read -s -p 'Password: ' pw; echo; echo len=${#pw}\r");
        ASSERT_TRUE(shell.wait_for("Password: ", 20s, from)) << shell.output().substr(from);
        shell.type("hunter2-secret\r");
        ASSERT_TRUE(shell.wait_for("len=14", 20s, from)) << shell.output().substr(from);
        shell.type("exit\r");
        ASSERT_EQ(shell.wait(30s), 0);
    };
    recorder_ = std::make_unique<Recorder>(*bed_, db_);
    {
        PtyProcess shell(bed_->exec_tty(container_, "pw-1", {"/bin/bash", "--norc"}), 24, 80);
        ASSERT_TRUE(shell.wait_for("# ", 20s));
        type_password(shell);
    }
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();
    json s = only_session();
    std::string frames = stored_frames();
    EXPECT_EQ(frames.find("hunter2"), std::string::npos) << "the password is in the database";
    EXPECT_EQ(database_bytes().find("hunter2"), std::string::npos);
    EXPECT_NE(frames.find("read -s"), std::string::npos) << "readline input (ECHO off, raw mode) is ordinary input";
    // how many bytes were typed is kept: the password's 15 count as input
    EXPECT_GE(s["input_bytes"].get<uint64_t>(), std::string("read -s -p 'Password: ' pw; echo; echo len=${#pw}\rhunter2-secret\r").size());

    // opted in: kept, which is also what proves this test can see it
    std::filesystem::remove(db_);
    recorder_ = std::make_unique<Recorder>(*bed_, db_, std::vector<std::string>{"--keep-echo-off-input"});
    {
        PtyProcess shell(bed_->exec_tty(container_, "pw-2", {"/bin/bash", "--norc"}), 24, 80);
        ASSERT_TRUE(shell.wait_for("# ", 20s));
        type_password(shell);
    }
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();
    EXPECT_NE(stored_frames().find("hunter2-secret"), std::string::npos);
}

TEST_F(CapturePaths, TheTimelineShowsWhatRanNotWhatWasClaimed) {
    recorder_ = std::make_unique<Recorder>(*bed_, db_);
    std::string long_arg(10000, 'a');
    auto r = run(bed_->ctr({"task", "exec", "--exec-id", "claims-1", container_, "/bin/bash", "-c",
                            "cp /usr/bin/true /tmp/.x; (exec -a 'ls -la' /tmp/.x); python3 /tmp/paths.py memfd; "
                            "/usr/bin/true $(seq 1 200); /usr/bin/true " + long_arg + "; /usr/bin/true $(seq 1 300); exit 0"}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(eventually([&] { return list_sessions(db_).size() == 1u && list_sessions(db_)[0]["status"] == "ended"; }));
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();
    json s = only_session();
    json timeline = show_session(db_, s["id"])["timeline"];
    auto find = [&](const std::function<bool(const json&)>& pred) -> json {
        for (const auto& c : timeline)
            if (pred(c)) return c;
        return json();
    };
    // exec -a: argv[0] claims `ls -la`; the kernel loaded /tmp/.x
    json renamed = find([](const json& c) { return c["argv"] == json::array({"ls -la"}); });
    ASSERT_FALSE(renamed.is_null()) << timeline.dump(2);
    EXPECT_EQ(renamed["exe"], "/tmp/.x");
    EXPECT_EQ(renamed["argv0_mismatch"], true);
    EXPECT_EQ(renamed["fileless"], false);
    EXPECT_GT(renamed["exe_inode"].get<uint64_t>(), 0u);
    // a memfd: no file anywhere
    json memfd = find([](const json& c) { return c["argv"] == json::array({"innocent"}); });
    ASSERT_FALSE(memfd.is_null()) << timeline.dump(2);
    EXPECT_EQ(memfd["fileless"], true) << memfd.dump(2);
    EXPECT_NE(memfd["exe"].get<std::string>().find("memfd:payload"), std::string::npos) << memfd.dump(2);
    EXPECT_EQ(memfd["argv0_mismatch"], true);
    // an ordinary command: its real path, nothing flagged
    json plain = find([](const json& c) { return c["argv"].size() == 201u; });
    ASSERT_FALSE(plain.is_null()) << "201 arguments were cut";
    EXPECT_EQ(plain["argv_truncated"], false);
    EXPECT_EQ(plain["argv"][200], "200");
    EXPECT_EQ(plain["exe"], "/usr/bin/true");
    EXPECT_EQ(plain["fileless"], false);
    EXPECT_EQ(plain["argv0_mismatch"], false);
    json long_one = find([&](const json& c) { return c["argv"].size() == 2u && c["argv"][1] == long_arg; });
    ASSERT_FALSE(long_one.is_null()) << "a 10000-byte argument was cut";
    EXPECT_EQ(long_one["argv_truncated"], false);
    // beyond the bound (256 arguments): cut, and said so
    json cut = find([](const json& c) { return c["argv"].size() == 256u; });
    ASSERT_FALSE(cut.is_null());
    EXPECT_EQ(cut["argv_truncated"], true);
    // and the table says it in words
    auto table = run({execaudit_bin(), "show", s["id"], "--db", db_});
    EXPECT_NE(table.out.find("[FILELESS: ran /memfd:payload"), std::string::npos) << table.out;
    EXPECT_NE(table.out.find("[argv0 is not the file: ran /tmp/.x]"), std::string::npos) << table.out;
}

// Every way in that leaves no exec into the cgroup: a container whose init is an interactive
// shell (kubectl debug's ephemeral container; kubectl attach types into it) and nsenter from the
// node (no cgroup change at all).
TEST_F(CapturePaths, AnInteractiveInitIsASessionAndAttachIsRecorded) {
    recorder_ = std::make_unique<Recorder>(*bed_, db_);
    const std::string uid = "3c1e9a52-7d4b-4f0e-8a61-2b9d5c7e0f14";
    bed_->run_container("shop", "dbg-pod", "app", {}, false, uid);
    // an ephemeral-like container: same pod, started late, its init a shell on a terminal
    std::string debugger = bed_->run_container("shop", "dbg-pod", "debugger", {"/bin/bash", "--norc"}, true, uid);
    ASSERT_TRUE(eventually([&] { return list_sessions(db_, {"--container", "debugger"}).size() == 1u; }))
        << list_sessions(db_).dump(2) << recorder_->log();
    {
        PtyProcess attach(bed_->ctr({"task", "attach", debugger}), 24, 80);
        attach.type("\r");
        ASSERT_TRUE(attach.wait_for("# ", 20s)) << attach.output();
        size_t from = attach.output().size();
        attach.type("echo attached-$((6*7))\r");
        ASSERT_TRUE(attach.wait_for("attached-42", 20s, from)) << attach.output();
        attach.type("exit\r");
        attach.wait(20s);
    }
    ASSERT_TRUE(eventually([&] { return list_sessions(db_, {"--container", "debugger"})[0]["status"] == "ended"; }));
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();
    json s = only_session({"--container", "debugger"});
    EXPECT_EQ(s["entered_via"], "tty-init");
    EXPECT_EQ(s["pod"], "dbg-pod");
    EXPECT_EQ(s["tty"], true);
    EXPECT_NE(play_cat(db_, s["id"]).find("attached-42"), std::string::npos);
    // the pod's other container, a plain workload, is not a session
    EXPECT_EQ(list_sessions(db_, {"--pod", "dbg-pod"}).size(), 1u);
}

TEST_F(CapturePaths, NsenterFromTheNodeIsASession) {
    recorder_ = std::make_unique<Recorder>(*bed_, db_);
    // a fresh container, so its init is learnt while the recorder runs
    std::string target = bed_->run_container("shop", "ns-pod", "app");
    auto tasks = run(bed_->ctr({"task", "ls"}));
    std::string pid;
    std::istringstream lines(tasks.out);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind(target, 0) == 0) {
            std::istringstream fields(line);
            std::string id;
            fields >> id >> pid;
        }
    ASSERT_FALSE(pid.empty()) << tasks.out;
    {
        PtyProcess shell({"nsenter", "-t", pid, "-m", "-p", "-u", "--", "/bin/bash", "--norc"}, 24, 80);
        ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
        ASSERT_TRUE(run_in(shell, "/bin/echo inside-$((6*7))"));
        shell.type("exit\r");
        shell.wait(20s);
    }
    ASSERT_TRUE(eventually([&] {
        auto l = list_sessions(db_, {"--pod", "ns-pod"});
        return l.size() == 1u && l[0]["status"] == "ended";
    })) << list_sessions(db_).dump(2) << recorder_->log();
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();
    json s = only_session({"--pod", "ns-pod"});
    EXPECT_EQ(s["entered_via"], "nsenter");
    EXPECT_EQ(s["namespace"], "shop");
    EXPECT_EQ(s["container"], "app");
    EXPECT_NE(play_cat(db_, s["id"]).find("inside-42"), std::string::npos);
    json timeline = show_session(db_, s["id"])["timeline"];
    bool echo = false;
    for (const auto& c : timeline) echo = echo || c["argv"].get<std::vector<std::string>>() == std::vector<std::string>{"/bin/echo", "inside-42"};
    EXPECT_TRUE(echo) << timeline.dump(2);
}

TEST_F(CapturePaths, AStaticPodIsNamed) {
    // the kubelet names a static pod (etcd, kube-apiserver) by its manifest's md5
    std::string etcd = bed_->run_container("kube-system", "etcd-cp-1", "etcd", {}, false, "6f8ad3c07e1b4d2a9c5e0f1b2a3d4c5e");
    recorder_ = std::make_unique<Recorder>(*bed_, db_);
    auto r = run(bed_->ctr({"task", "exec", "--exec-id", "static-1", etcd, "/bin/true"}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(eventually([&] { return list_sessions(db_).size() == 1u && list_sessions(db_)[0]["status"] == "ended"; }));
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();
    json s = only_session();
    EXPECT_EQ(s["namespace"], "kube-system");
    EXPECT_EQ(s["pod"], "etcd-cp-1");
    EXPECT_EQ(s["container"], "etcd");
    EXPECT_EQ(s["pod_uid"], "6f8ad3c07e1b4d2a9c5e0f1b2a3d4c5e");
}

}  // namespace
