// Tamper evidence and the compliance report on sessions recorded for real: the recorder signs
// each head, `verify` and `report` agree the store is intact, and once one byte of a stored
// terminal chunk is changed (as someone with the file would), both name that session.
#include "tests/support/node_test.h"

#include <gtest/gtest.h>

using namespace execaudit::testing;
using nlohmann::json;

namespace {

class IntegrityReport : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"openssl", "sqlite3"}; }
};

TEST_F(IntegrityReport, RealSessionsVerifyAndReportUntilOneByteChanges) {
    std::string key = dir_.file("head.pem");
    ASSERT_EQ(run({"openssl", "genpkey", "-algorithm", "ed25519", "-out", key}).exit_code, 0);
    ASSERT_EQ(run({"openssl", "pkey", "-in", key, "-pubout", "-out", key + ".pub"}).exit_code, 0);
    // no audit source and no grace: nobody asked for these sessions, a finding in itself
    recorder_ = std::make_unique<Recorder>(*bed_, db_, std::vector<std::string>{"--signing-key", key, "--audit-grace", "0"});
    for (const char* id : {"rep-1", "rep-2"}) {
        PtyProcess shell(bed_->exec_tty(container_, id, {"/bin/bash", "--norc"}), 24, 80);
        ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
        ASSERT_TRUE(run_in(shell, "/bin/echo hello-$((40+2)); seq 1 3000"));
        shell.type("exit 0\r");
        ASSERT_EQ(shell.wait(30s), 0);
    }
    ASSERT_TRUE(eventually([&] {
        json l = list_sessions(db_);
        return l.size() == 2 && l[0]["status"] == "ended" && l[1]["status"] == "ended" && l[0]["attribution"] == "unattributed" &&
               l[1]["attribution"] == "unattributed";
    }, 60s)) << recorder_->log();
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();

    auto verify = run({execaudit_bin(), "verify", "--db", db_, "--public-key", key + ".pub"});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    auto report = [&] {
        auto r = run({execaudit_bin(), "report", "--db", db_, "--since", "1h", "--format", "json", "--public-key", key + ".pub"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return json::parse(r.out);
    };
    json j = report();
    ASSERT_EQ(j["sessions"].size(), 2u) << j.dump(2);
    EXPECT_EQ(j["findings"]["unattributed_sessions"], 2);
    EXPECT_EQ(j["findings"]["integrity_failures"], 0);
    EXPECT_EQ(j["per_namespace"][0]["namespace"], "shop");
    EXPECT_EQ(j["per_namespace"][0]["sessions"], 2);
    for (const auto& s : j["sessions"]) {
        EXPECT_EQ(s["integrity"]["status"], "intact") << s.dump(2);
        EXPECT_EQ(s["pod"], "web-7f9c");
        EXPECT_GE(s["commands"].get<int>(), 3);  // bash, echo, seq
    }

    // one byte of the second session's first chunk changed in place, as someone with the file would
    std::string victim = j["sessions"][1]["id"];
    auto flip = run({"sqlite3", db_,
                     "UPDATE io_chunks SET data = substr(data, 1, 20) || CASE WHEN substr(data, 21, 1) = x'5A' THEN x'A5' "
                     "ELSE x'5A' END || substr(data, 22) WHERE session_id = '" + victim + "' AND seq = 0;"});
    ASSERT_EQ(flip.exit_code, 0) << flip.err;
    verify = run({execaudit_bin(), "verify", "--db", db_, "--public-key", key + ".pub"});
    EXPECT_EQ(verify.exit_code, 1) << verify.out << verify.err;
    EXPECT_NE(verify.err.find(victim), std::string::npos) << verify.err;
    EXPECT_NE(verify.err.find("chunk 0"), std::string::npos) << verify.err;
    j = report();
    EXPECT_EQ(j["findings"]["integrity_failures"], 1);
    EXPECT_EQ(j["sessions"][1]["integrity"]["status"], "ALTERED");
    EXPECT_EQ(j["sessions"][0]["integrity"]["status"], "intact");
}

}  // namespace
