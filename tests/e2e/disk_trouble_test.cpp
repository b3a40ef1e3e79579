// A database on a disk that fills up mid-session: a real tmpfs of a few MiB holds it, a real
// session floods it, then space is freed. Nothing crashes, what could not be stored is counted
// and shown, recording resumes by itself, and SIGTERM stops the recorder while the disk is full.
#include "tests/support/audit_fixtures.h"
#include "tests/support/node_test.h"

#include <gtest/gtest.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

using namespace execaudit::testing;
using nlohmann::json;

namespace {

class DiskTrouble : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"curl", "base64", "openssl"}; }

    void SetUp() override {
        NodeTest::SetUp();
        if (IsSkipped()) return;
        small_ = dir_.file("small");
        std::filesystem::create_directories(small_);
        ASSERT_EQ(::mount("tmpfs", small_.c_str(), "tmpfs", 0, "size=40m,mode=0700"), 0) << std::strerror(errno);
        mounted_ = true;
        // most of it taken already: the session's output fills the rest
        filler_ = small_ + "/filler";
        auto r = run({"dd", "if=/dev/zero", "of=" + filler_, "bs=1M", "count=26", "status=none"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        db_ = small_ + "/sessions.db";
    }
    void TearDown() override {
        NodeTest::TearDown();
        if (mounted_) ::umount2(small_.c_str(), MNT_DETACH);
    }

    void start_recorder() {
        // heads signed, so the session that lost data to the disk can be shown complete otherwise
        key_ = dir_.file("head.pem");
        auto k = run({"openssl", "genpkey", "-algorithm", "ed25519", "-out", key_});
        ASSERT_EQ(k.exit_code, 0) << k.err;
        k = run({"openssl", "pkey", "-in", key_, "-pubout", "-out", key_ + ".pub"});
        ASSERT_EQ(k.exit_code, 0) << k.err;
        recorder_ = std::make_unique<Recorder>(
            *bed_, db_,
            // the size bounds would delete the session once it ends (tests/e2e/retention_test.cpp tests them)
            std::vector<std::string>{"--store-queue-mb", "2", "--metrics", "127.0.0.1:0", "--signing-key", key_,
                                     "--max-db-size", "0", "--min-free-space", "0"},
            dir_.file("recorder.log"));
        port_ = logged_port(recorder_->log(), "metrics");
        ASSERT_GT(port_, 0) << recorder_->log();
    }
    std::string metrics() {
        return run({"curl", "-s", "http://127.0.0.1:" + std::to_string(port_) + "/metrics"}).out;
    }
    static double metric(const std::string& body, const std::string& name) {
        auto at = body.find("\n" + name + " ");
        return at == std::string::npos ? -1 : std::atof(body.c_str() + at + name.size() + 2);
    }
    /// Floods the terminal with ~40 MB that barely compresses, until the database refuses it and
    /// the writer's queue is full (its one log line says so).
    void fill_the_disk(PtyProcess& shell) {
        shell.type("head -c 30000000 /dev/urandom | base64 -w 100; echo flood-''done\r");
        bool dropping = false;
        for (int i = 0; i < 6000 && !dropping; ++i) {
            shell.wait_for("flood-done", 50ms);
            dropping = recorder_->log().find("are dropped from now on") != std::string::npos;
        }
        ASSERT_TRUE(dropping) << recorder_->log();
    }

    std::string small_, filler_, key_;
    bool mounted_ = false;
    int port_ = 0;
};

TEST_F(DiskTrouble, LossIsCountedAndShownAndRecordingResumesWhenSpaceReturns) {
    start_recorder();
    PtyProcess shell(bed_->exec_tty(container_, "full-1", {"/bin/bash", "--norc"}), 30, 100);
    ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
    ASSERT_TRUE(run_in(shell, "echo before-$((1+1))"));
    fill_the_disk(shell);

    // visible while it lasts: /metrics and one log line, not one per retry
    std::string m = metrics();
    EXPECT_EQ(metric(m, "execaudit_store_failing"), 1) << m;
    EXPECT_GT(metric(m, "execaudit_store_dropped_chunks_total"), 0) << m;
    EXPECT_GT(metric(m, "execaudit_store_failed_commits_total"), 0) << m;
    ASSERT_TRUE(shell.wait_for("flood-done", 600s));
    std::string log = recorder_->log();
    auto count = [&](const std::string& what) {
        size_t n = 0;
        for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
        return n;
    };
    // once per failure, not once per retry (at the edge of full, the disk may take a commit or two
    // in between: each such recovery is a line of its own)
    EXPECT_LE(count("a commit failed"), count("takes writes again") + 1) << log;
    EXPECT_LE(count("are dropped from now on"), count("takes writes again") + 1) << log;

    // space returns: recording resumes by itself
    size_t freed_at = recorder_->log().size();
    std::filesystem::remove(filler_);
    ASSERT_TRUE(eventually([&] { return recorder_->log().find("takes writes again", freed_at) != std::string::npos; }, 60s))
        << recorder_->log();
    ASSERT_TRUE(run_in(shell, "/bin/echo after-$((20+22))"));
    shell.type("exit 3\r");
    ASSERT_EQ(shell.wait(30s), 3);
    ASSERT_TRUE(eventually([&] {
        json l = list_sessions(db_);
        return l.size() == 1 && l[0]["status"] == "ended";
    }, 60s)) << recorder_->log();
    m = metrics();
    EXPECT_EQ(metric(m, "execaudit_store_failing"), 0) << m;
    EXPECT_GT(metric(m, "execaudit_store_gaps_written_total"), 0) << m;
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();

    json s = list_sessions(db_)[0];
    EXPECT_EQ(s["exit_code"], 3);
    EXPECT_GT(s["lost_bytes"].get<uint64_t>(), 1000000u) << s.dump();  // megabytes of the flood
    EXPECT_GT(s["lost_events"].get<uint64_t>(), 0u);
    json shown = show_session(db_, s["id"]);
    bool after = false;
    for (const auto& c : shown["timeline"]) after |= c["argv"] == json::array({"/bin/echo", "after-42"});
    EXPECT_TRUE(after) << shown["timeline"].dump();

    auto cat = run({execaudit_bin(), "play", s["id"], "--cat", "--db", db_});
    EXPECT_EQ(cat.exit_code, 0) << cat.err;
    EXPECT_NE(cat.out.find("after-42"), std::string::npos) << cat.out;
    EXPECT_NE(cat.err.find("the database could not be written"), std::string::npos) << cat.err;

    // what was stored, the gap included, is one intact, signed chain
    auto verify = run({execaudit_bin(), "verify", "--db", db_, "--public-key", key_ + ".pub"});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_NE(verify.out.find("intact"), std::string::npos) << verify.out;
}

TEST_F(DiskTrouble, SigtermStopsTheRecorderWhileTheDiskIsFull) {
    start_recorder();
    PtyProcess shell(bed_->exec_tty(container_, "full-2", {"/bin/bash", "--norc"}), 30, 100);
    ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
    fill_the_disk(shell);
    // the session still floods the terminal: the recorder keeps getting data while it stops
    recorder_->process().signal(SIGTERM);
    std::optional<int> code;
    for (int i = 0; i < 600 && !code; ++i) {
        shell.wait_for("flood-done", 50ms);
        code = recorder_->process().wait(1ms);
    }
    ASSERT_TRUE(code.has_value()) << "the recorder ignored SIGTERM with the disk full:\n" << recorder_->log();
    EXPECT_EQ(*code, 0) << recorder_->log();
    EXPECT_NE(recorder_->log().find("records are not stored"), std::string::npos) << recorder_->log();
}

}  // namespace
