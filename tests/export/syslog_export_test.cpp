// `execaudit export --syslog` against a real rsyslogd: every record arrives once, parsed as
// RFC 5424 by rsyslog itself; TLS verifies both sides; bad destinations fail clearly.
#include "tests/support/stored_sessions.h"
#include "tests/support/rsyslog.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

using namespace execaudit;
using namespace execaudit::testing;

namespace {

class SyslogExport : public ::testing::Test {
protected:
    void SetUp() override {
        EA_REQUIRE(missing_program("rsyslogd"));
        EA_REQUIRE(missing_program("openssl"));
        for (int i = 0; i < 20; ++i)
            write_finished_session(db_, fmt::format("5e55{:012x}", i), kT0Ns + i * kSecondNs, 5);  // 7 records each
    }

    RunResult ea(std::vector<std::string> args) {
        args.insert(args.begin(), {execaudit_bin(), "export", "--db", db_});
        return run(args);
    }

    std::vector<std::string> expected_ids() {
        auto r = ea({});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return jsonl_record_ids(r.out);
    }

    static void expect_exactly_once(const std::vector<SyslogReceived>& got, const std::vector<std::string>& expected) {
        std::map<std::string, int> count;
        for (const auto& m : got) ++count[m.record_id];
        EXPECT_EQ(count.size(), expected.size());
        for (const auto& id : expected) EXPECT_EQ(count[id], 1) << id;
    }

    TempDir dir_;
    std::string db_ = dir_.file("sessions.db");
};

TEST_F(SyslogExport, EveryRecordArrivesOnceOverTcp) {
    Rsyslog rs({});
    auto expected = expected_ids();
    ASSERT_EQ(expected.size(), 140u);
    auto r = ea({"--syslog", rs.url()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("140 records delivered"), std::string::npos) << r.err;
    // The CLI returned after rsyslog closed its side, i.e. after it read everything.
    ASSERT_TRUE(eventually([&] { return rs.received().size() >= 140; }, 10s)) << rs.received().size() << rs.log();
    auto got = rs.received();
    expect_exactly_once(got, expected);
    std::set<std::string> kinds;
    for (const auto& m : got) {
        EXPECT_EQ(m.version, "1");
        EXPECT_EQ(m.hostname, "node-1");
        EXPECT_EQ(m.app_name, "execaudit");
        kinds.insert(m.msgid);
        ASSERT_TRUE(m.record.is_object()) << m.structured_data;
        EXPECT_EQ(m.msgid, m.record["kind"]);
        EXPECT_NE(m.structured_data.find("[execaudit@32473 record_id=\"" + m.record_id + "\""), std::string::npos)
            << m.structured_data;
        EXPECT_NE(m.structured_data.find("namespace=\"shop\" pod=\"web\" container=\"app\""), std::string::npos);
        if (m.msgid == "command") {
            std::string argv = "command=\"/bin/echo " + std::to_string(m.record["command"]["seq"].get<int>()) + "\"";
            EXPECT_NE(m.structured_data.find(argv), std::string::npos) << m.structured_data;
        }
    }
    EXPECT_EQ(kinds, (std::set<std::string>{"session_start", "command", "session_end"}));
    // in the order the node committed them
    std::vector<std::string> order;
    for (const auto& m : got) order.push_back(m.record_id);
    EXPECT_EQ(order, expected);
}

TEST_F(SyslogExport, FiltersSelectTheSameSessionsAsTheSessionsCommand) {
    Rsyslog rs({});
    auto r = ea({"--syslog", rs.url(), "--until", "2024-10-29T12:21:50Z", "--since", "2024-10-29T12:21:47Z"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto listed = run({execaudit_bin(), "sessions", "--db", db_, "--format", "json", "--until", "2024-10-29T12:21:50Z",
                       "--since", "2024-10-29T12:21:47Z"});
    ASSERT_EQ(listed.exit_code, 0);
    std::set<std::string> want;
    for (const auto& s : nlohmann::json::parse(listed.out)) want.insert(s["id"]);
    ASSERT_FALSE(want.empty());
    ASSERT_TRUE(eventually([&] { return rs.received().size() >= want.size() * 7; }, 10s));
    std::set<std::string> got;
    for (const auto& m : rs.received()) got.insert(m.record["session_id"]);
    EXPECT_EQ(got, want);
    EXPECT_EQ(rs.received().size(), want.size() * 7);
}

TEST_F(SyslogExport, TlsVerifiesTheServerAndPresentsAClientCertificate) {
    Rsyslog rs({.tls = true, .require_client_cert = true});
    auto r = ea({"--syslog", rs.url(), "--syslog-ca", rs.ca_file(), "--syslog-cert", rs.client_cert(), "--syslog-key",
                 rs.client_key(), "--ecs"});
    ASSERT_EQ(r.exit_code, 0) << r.err << rs.log();
    ASSERT_TRUE(eventually([&] { return rs.received().size() >= 140; }, 10s)) << rs.log();
    auto got = rs.received();
    expect_exactly_once(got, expected_ids());
    for (const auto& m : got) {
        EXPECT_EQ(m.record["ecs"]["version"], "8.11.0");
        EXPECT_EQ(m.record["orchestrator"]["namespace"], "shop");
    }

    // A server whose certificate no trusted CA signed is refused before anything is sent.
    auto wrong_ca = ea({"--syslog", rs.url(), "--syslog-ca", rs.other_ca_file(), "--syslog-cert", rs.client_cert(),
                        "--syslog-key", rs.client_key()});
    EXPECT_EQ(wrong_ca.exit_code, 1);
    EXPECT_NE(wrong_ca.err.find("certificate"), std::string::npos) << wrong_ca.err;
    EXPECT_EQ(std::count(wrong_ca.err.begin(), wrong_ca.err.end(), '\n'), 1) << wrong_ca.err;
    // The name is checked too: the certificate is for 127.0.0.1, not for localhost.
    auto by_name = ea({"--syslog", "tls://localhost:" + std::to_string(rs.port()), "--syslog-ca", rs.ca_file(),
                       "--syslog-cert", rs.client_cert(), "--syslog-key", rs.client_key()});
    EXPECT_EQ(by_name.exit_code, 1) << by_name.err;
    EXPECT_NE(by_name.err.find("certificate"), std::string::npos) << by_name.err;
    EXPECT_EQ(rs.received().size(), got.size());
}

TEST_F(SyslogExport, BadDestinationsAreClearErrors) {
    auto bad_url = ea({"--syslog", "udp://127.0.0.1:514"});
    EXPECT_EQ(bad_url.exit_code, 2);
    EXPECT_NE(bad_url.err.find("UDP"), std::string::npos) << bad_url.err;
    EXPECT_EQ(std::count(bad_url.err.begin(), bad_url.err.end(), '\n'), 1);
    auto no_port = ea({"--syslog", "tcp://127.0.0.1"});
    EXPECT_EQ(no_port.exit_code, 2);
    auto missing_ca = ea({"--syslog", "tls://127.0.0.1:6514", "--syslog-ca", dir_.file("nope.pem")});
    EXPECT_EQ(missing_ca.exit_code, 2);
    EXPECT_NE(missing_ca.err.find("nope.pem"), std::string::npos) << missing_ca.err;

    auto refused = ea({"--syslog", "tcp://127.0.0.1:" + std::to_string(free_port())});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find("Connection refused"), std::string::npos) << refused.err;
    auto unknown = ea({"--syslog", "tcp://no-such-host.invalid:514"});
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_NE(unknown.err.find("cannot resolve no-such-host.invalid"), std::string::npos) << unknown.err;
}

}  // namespace
