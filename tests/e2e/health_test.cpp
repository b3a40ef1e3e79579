// The agent's health endpoints as a kubelet and Prometheus see them: /healthz, /readyz (BPF
// attached, database writable) and /metrics checked by Prometheus' own promtool.
#include "tests/support/audit_fixtures.h"
#include "tests/support/node_test.h"
#include "tests/support/prometheus.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

using namespace execaudit::testing;

namespace {

class HealthTest : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"curl", "promtool"}; }

    void start(std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"--metrics", "127.0.0.1:0"};
        args.insert(args.end(), extra.begin(), extra.end());
        recorder_ = std::make_unique<Recorder>(*bed_, db_, args);
        port_ = logged_port(recorder_->log(), "metrics");
        ASSERT_GT(port_, 0) << recorder_->log();
    }
    /// curl's status code and body for a path of the metrics listener.
    std::pair<int, std::string> get(const std::string& path) {
        auto r = run({"curl", "-s", "-w", "\n%{http_code}", "http://127.0.0.1:" + std::to_string(port_) + path});
        auto nl = r.out.rfind('\n');
        if (nl == std::string::npos) return {0, r.out};
        return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
    }

    int port_ = 0;
};

TEST_F(HealthTest, PromtoolAcceptsTheAgentsMetrics) {
    // Two export destinations, so labelled families have several samples (they must stay grouped).
    start({"--export-jsonl", dir_.file("records.jsonl"), "--export-syslog", "tcp://127.0.0.1:1"});
    auto [code, body] = get("/metrics");
    ASSERT_EQ(code, 200) << body;
    ASSERT_NE(body.find("execaudit_export_backlog_records{destination="), std::string::npos) << body;
    expect_prometheus_accepts(body, dir_.file("metrics.txt"));
}

// Which terminal hook runs is never a secret: the start-up line and /metrics say it, and a
// refused fexit asked for by name stops the recorder with the kernel's reason (no silent fallback).
TEST_F(HealthTest, TheTerminalHookIsSaidAndAFexitRefusalIsAnError) {
    start();
    auto [code, body] = get("/metrics");
    ASSERT_EQ(code, 200) << body;
    bool fexit = body.find("execaudit_capture_tty_hook{hook=\"fexit\"} 1") != std::string::npos;
    bool tracepoint = body.find("execaudit_capture_tty_hook{hook=\"tracepoint\"} 1") != std::string::npos;
    ASSERT_NE(fexit, tracepoint) << body;
    std::string log = recorder_->log();
    if (tracepoint) {
        EXPECT_NE(log.find("terminal I/O hooked at the syscall tracepoint (tp_btf/sys_exit): every read and write on the "
                           "node pays one compare; fexit on the tty layer was refused: "), std::string::npos) << log;
        // the expected refusal is ours to report: libbpf's own warnings about it would mislead
        EXPECT_EQ(log.find("libbpf: "), std::string::npos) << log;
    } else {
        EXPECT_NE(log.find("terminal I/O hooked at the tty layer (fexit on tty_write and tty_read)"), std::string::npos) << log;
    }
    recorder_->stop();

    try {
        Recorder asked(*bed_, dir_.file("fexit.db"), {"--tty-hook", "fexit"});
        EXPECT_TRUE(fexit) << "--tty-hook fexit started where auto fell back:\n" << asked.log();
    } catch (const std::runtime_error& e) {
        EXPECT_TRUE(tracepoint) << e.what();
        EXPECT_NE(std::string(e.what()).find("--tty-hook fexit: the kernel refused the tty layer's fexit programs"),
                  std::string::npos) << e.what();
    }
    auto bad = run({execaudit_bin(), "record", "--tty-hook", "kprobe", "--db", dir_.file("bad.db")});
    EXPECT_EQ(bad.exit_code, 2) << bad.err;
    EXPECT_NE(bad.err.find("--tty-hook"), std::string::npos) << bad.err;
}

TEST_F(HealthTest, ReadyWhileTheDatabaseIsWritable) {
    // The database on a small file system of its own, so the test can fill it as a log flood would.
    std::string dbdir = dir_.file("spool");
    std::filesystem::create_directories(dbdir);
    ASSERT_EQ(mount("tmpfs", dbdir.c_str(), "tmpfs", 0, "size=16m"), 0) << std::strerror(errno);
    struct Unmount {
        std::string path;
        ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
    } unmount{dbdir};
    db_ = dbdir + "/sessions.db";
    start();

    EXPECT_EQ(get("/healthz"), (std::pair<int, std::string>{200, "ok\n"}));
    EXPECT_EQ(get("/readyz"), (std::pair<int, std::string>{200, "ready\n"}));

    auto fill = run({"dd", "if=/dev/zero", "of=" + dbdir + "/filler", "bs=1M", "count=64"});
    ASSERT_NE(fill.exit_code, 0) << "the file system did not fill up";
    auto [code, body] = get("/readyz");
    EXPECT_EQ(code, 503);
    EXPECT_EQ(body, "not ready: the database's file system is full\n");
    EXPECT_EQ(get("/healthz").first, 200);  // alive all the same: a restart would not help

    std::filesystem::remove(dbdir + "/filler");
    EXPECT_EQ(get("/readyz"), (std::pair<int, std::string>{200, "ready\n"}));
    EXPECT_EQ(recorder_->stop(), 0) << recorder_->log();
}

}  // namespace
