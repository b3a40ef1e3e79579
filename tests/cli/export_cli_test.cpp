// `execaudit export` through the real binary, without privileges: what it prints, its filters,
// --follow, and the one-line errors with exit status 2 for bad input.
#include "tests/support/environment.h"
#include "tests/support/stored_sessions.h"
#include "tests/support/process.h"
#include "tests/support/rsyslog.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <sstream>

#include "execaudit.pb.h"

using namespace execaudit;
using namespace execaudit::testing;

namespace {

class ExportCli : public ::testing::Test {
protected:
    void SetUp() override {
        write_finished_session(db_, "aaaa000000000001", kT0Ns, 2);
        auto b = sample_session("bbbb000000000002", kT0Ns + 3600 * kSecondNs);
        b.namespace_name = "payments";
        write_ops(db_, {storage::WriteSession{b}});
    }
    RunResult ea(std::vector<std::string> args) {
        args.insert(args.begin(), {execaudit_bin(), "export", "--db", db_});
        return run(args);
    }
    TempDir dir_;
    std::string db_ = dir_.file("s.db");
};

TEST_F(ExportCli, JsonLinesOfEveryRecordInCommitOrder) {
    auto r = ea({});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(jsonl_record_ids(r.out), (std::vector<std::string>{"aaaa000000000001:start", "aaaa000000000001:command:0",
                                                       "aaaa000000000001:command:1", "aaaa000000000001:end",
                                                       "bbbb000000000002:start"}));
    EXPECT_EQ(r.err, "");
    auto one = ea({"--namespace", "payments"});
    EXPECT_EQ(jsonl_record_ids(one.out), (std::vector<std::string>{"bbbb000000000002:start"}));
    auto by_time = ea({"--until", "2024-10-29T13:00:00Z"});
    EXPECT_EQ(jsonl_record_ids(by_time.out).size(), 4u);
    auto by_prefix = ea({"--session", "aaaa"});
    EXPECT_EQ(jsonl_record_ids(by_prefix.out).size(), 4u);
    auto ecs = ea({"--ecs", "--session", "aaaa"});
    std::istringstream in(ecs.out);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(nlohmann::json::parse(line)["event"]["id"], "aaaa000000000001:start");
}

TEST_F(ExportCli, ProtoIsLengthDelimitedExportRecords) {
    auto r = ea({"--format", "proto", "--session", "aaaa000000000001"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    google::protobuf::io::ArrayInputStream in(r.out.data(), static_cast<int>(r.out.size()));
    std::vector<std::string> ids;
    for (;;) {
        v1::ExportRecord rec;
        bool eof = false;
        if (!google::protobuf::util::ParseDelimitedFromZeroCopyStream(&rec, &in, &eof)) {
            EXPECT_TRUE(eof);
            break;
        }
        ids.push_back(rec.record_id());
    }
    EXPECT_EQ(ids, (std::vector<std::string>{"aaaa000000000001:start", "aaaa000000000001:command:0",
                                             "aaaa000000000001:command:1", "aaaa000000000001:end"}));
}

TEST_F(ExportCli, FollowStreamsNewRecordsAndEndsWithTheSession) {
    std::string out = dir_.file("follow.jsonl");
    Process follow({execaudit_bin(), "export", "--db", db_, "--follow", "--session", "bbbb", "-o", out}, dir_.file("log"));
    ASSERT_TRUE(eventually([&] { return jsonl_record_ids(read_file(out)).size() == 1; }, 10s));
    auto b = sample_session("bbbb000000000002", kT0Ns + 3600 * kSecondNs);
    b.namespace_name = "payments";
    write_ops(db_, {storage::WriteCommand{sample_command(b, 0, {"id"})}});
    ASSERT_TRUE(eventually([&] { return jsonl_record_ids(read_file(out)).size() == 2; }, 10s));
    EXPECT_TRUE(follow.running());
    b.status = "ended";
    b.end_ns = b.start_ns + kSecondNs;
    write_ops(db_, {storage::WriteSession{b}});
    EXPECT_EQ(follow.wait(10s), 0);  // --session: done when the session ends
    EXPECT_EQ(jsonl_record_ids(read_file(out)),
              (std::vector<std::string>{"bbbb000000000002:start", "bbbb000000000002:command:0", "bbbb000000000002:end"}));
}

TEST_F(ExportCli, FollowWithFiltersSendsASessionWholeOnceItMatches) {
    std::string out = dir_.file("follow.jsonl");
    Process follow({execaudit_bin(), "export", "--db", db_, "--follow", "--user", "alice", "-o", out}, dir_.file("log"));
    auto c = sample_session("cccc000000000003", kT0Ns + 7200 * kSecondNs);
    write_ops(db_, {storage::WriteSession{c}, storage::WriteCommand{sample_command(c, 0, {"/bin/bash"})}});
    // a later session that is alice's: once it is out, --follow has read past cccc
    auto d = sample_session("dddd000000000004", kT0Ns + 7300 * kSecondNs);
    write_ops(db_, {storage::WriteSession{d}});
    auto attribute = [&](const std::string& id) {
        auto db = storage::Database::open(db_, storage::Database::Mode::read_write);
        db.exec("UPDATE sessions SET attribution = 'audit', user = 'alice' WHERE id = '" + id + "'");
    };
    attribute("dddd000000000004");
    ASSERT_TRUE(eventually([&] { return jsonl_record_ids(read_file(out)).size() == 2; }, 10s)) << read_file(out);
    EXPECT_EQ(jsonl_record_ids(read_file(out)), (std::vector<std::string>{"dddd000000000004:start", "dddd000000000004:attributed:0"}))
        << "nobody is known to be alice in cccc yet";
    attribute("cccc000000000003");
    ASSERT_TRUE(eventually([&] { return jsonl_record_ids(read_file(out)).size() == 5; }, 10s)) << read_file(out);
    EXPECT_EQ(jsonl_record_ids(read_file(out)),
              (std::vector<std::string>{"dddd000000000004:start", "dddd000000000004:attributed:0", "cccc000000000003:start",
                                        "cccc000000000003:command:0", "cccc000000000003:attributed:0"}));
    follow.signal(SIGTERM);
    follow.wait(10s);
}

TEST_F(ExportCli, AsciicastOfASessionWithoutATerminalIsBadInput) {
    auto e = sample_session("eeee000000000005", kT0Ns + 7200 * kSecondNs);
    e.tty = false;  // a non-tty exec: commands, no terminal
    write_ops(db_, {storage::WriteSession{e}});
    auto r = ea({"--format", "asciicast", "--session", "eeee"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("session eeee000000000005 has no terminal"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
    // the same request for a session with a terminal is fine
    auto tty = ea({"--format", "asciicast", "--session", "aaaa"});
    EXPECT_EQ(tty.exit_code, 0) << tty.err;
}

TEST_F(ExportCli, BadInputIsOneLineAndExitTwo) {
    std::vector<std::vector<std::string>> cases = {
        {"--format", "xml"},
        {"--session", "ffff0000"},
        {"--session", "zz"},
        {"--since", "yesterday-ish"},
        {"--since", "1h", "--until", "2h"},
        {"--format", "asciicast"},
        {"--format", "asciicast", "--session", "aaaa", "--follow"},
        {"--format", "asciicast", "--session", "aaaa", "--syslog", "tcp://127.0.0.1:1"},
        {"--with-input"},
        {"--format", "proto", "--syslog", "tcp://127.0.0.1:1"},
        {"--syslog", "http://127.0.0.1:1"},
        {"--syslog", "tcp://127.0.0.1:1", "--syslog-ca", "/etc/hostname"},
        {"--output", "/proc/nope/x"},
    };
    for (const auto& c : cases) {
        auto r = ea(c);
        std::string what = ::testing::PrintToString(c);
        EXPECT_EQ(r.exit_code, 2) << what << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << what << ": " << r.err;
        EXPECT_EQ(r.out, "") << what;
    }
    auto missing = run({execaudit_bin(), "export", "--db", dir_.file("missing.db")});
    EXPECT_EQ(missing.exit_code, 2);
    auto help = run({execaudit_bin(), "help", "export"});
    EXPECT_EQ(help.exit_code, 0);
    for (const char* flag : {"--format", "--follow", "--syslog", "--ecs", "--with-input", "--since", "record_id"})
        EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
}

// `export -o FILE` holds session contents: 0600 whatever the umask (issue 12). A file that exists
// keeps its mode (the operator chose it).
TEST_F(ExportCli, OutputFilesAre0600WhateverTheUmask) {
    for (std::string mask : {"000", "022", "277"}) {
        for (std::vector<std::string> format : {std::vector<std::string>{}, {"--format", "proto"},
                                                {"--format", "asciicast", "--session", "aaaa"}}) {
            std::string out = dir_.file("out-" + mask + "-" + std::to_string(format.size()));
            std::vector<std::string> argv = {"/bin/sh", "-c", "umask " + mask + " && exec \"$0\" \"$@\"", execaudit_bin(),
                                             "export", "--db", db_, "-o", out};
            argv.insert(argv.end(), format.begin(), format.end());
            auto r = run(argv);
            ASSERT_EQ(r.exit_code, 0) << r.err;
            EXPECT_FALSE(read_file(out).empty());
            EXPECT_EQ(file_mode(out), 0600) << "umask " << mask << " " << ::testing::PrintToString(format);
        }
    }
    std::string existing = dir_.file("existing.jsonl");
    ASSERT_EQ(run({"/bin/sh", "-c", "echo old-old-old-old-old-old-old-old-old-old-old-old-old-old > " + existing + " && chmod 0604 " + existing}).exit_code, 0);
    auto r = ea({"-o", existing, "--session", "bbbb"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(file_mode(existing), 0604);
    EXPECT_EQ(read_file(existing).find("old"), std::string::npos) << "truncated";
    EXPECT_EQ(jsonl_record_ids(read_file(existing)), (std::vector<std::string>{"bbbb000000000002:start"}));
}

}  // namespace
