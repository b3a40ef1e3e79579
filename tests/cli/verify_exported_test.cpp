// `verify --exported`: the heads a SIEM holds against a store that root on the node rewrote,
// chain, head and ledger included, so that the store alone verifies. Through the real binary,
// over databases the real writer wrote and an export `execaudit export` wrote, in both styles.
#include "tests/support/environment.h"
#include "tests/support/process.h"
#include "tests/support/stored_sessions.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace execaudit;
using namespace execaudit::testing;

namespace {

class VerifyExported : public ::testing::Test {
protected:
    void SetUp() override {
        // what the node recorded, and exported to the SIEM
        write_finished_session(recorded_, "aaaa000000000001", kT0Ns, 2);
        write_finished_session(recorded_, "bbbb000000000002", kT0Ns + 60 * kSecondNs, 3);
        write_finished_session(recorded_, "cccc000000000003", kT0Ns + 120 * kSecondNs, 1);
        for (auto [style, path] : {std::pair{"", jsonl_}, std::pair{"--ecs", ecs_}}) {
            std::vector<std::string> argv{execaudit_bin(), "export", "--db", recorded_, "-o", path};
            if (*style) argv.push_back(style);
            auto r = run(argv);
            ASSERT_EQ(r.exit_code, 0) << r.err;
        }
        // what root on the node left: session b written again with one command less (its chain,
        // head and ledger entry made anew), session c never there, session a untouched
        write_finished_session(rewritten_, "aaaa000000000001", kT0Ns, 2);
        write_finished_session(rewritten_, "bbbb000000000002", kT0Ns + 60 * kSecondNs, 2);
    }
    RunResult verify(std::vector<std::string> extra) {
        std::vector<std::string> argv{execaudit_bin(), "verify", "--db"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return run(argv);
    }

    TempDir dir_;
    std::string recorded_ = dir_.file("recorded.db"), rewritten_ = dir_.file("rewritten.db");
    std::string jsonl_ = dir_.file("export.jsonl"), ecs_ = dir_.file("export-ecs.jsonl");
};

TEST_F(VerifyExported, AnUntouchedStoreMatchesItsExport) {
    auto r = verify({recorded_, "--exported", jsonl_});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("3 exported heads compared"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("3 match"), std::string::npos) << r.out;
}

TEST_F(VerifyExported, ARewrittenAndARemovedSessionAreNamedThoughTheStoreAloneVerifies) {
    auto alone = verify({rewritten_});
    ASSERT_EQ(alone.exit_code, 0) << "the rewrite is consistent: " << alone.out << alone.err;
    for (const auto& file : {jsonl_, ecs_}) {
        auto r = verify({rewritten_, "--exported", file});
        EXPECT_EQ(r.exit_code, 1) << file << r.out << r.err;
        EXPECT_NE(r.err.find("bbbb000000000002  ALTERED    export: the export holds head"), std::string::npos) << file << r.err;
        EXPECT_NE(r.err.find("the session was rewritten after it left the node"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("cccc000000000003  REMOVED"), std::string::npos) << file << r.err;
        EXPECT_EQ(r.err.find("aaaa000000000001  ALTERED"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("2 contradict the store"), std::string::npos) << r.err;
    }
    // asked by id: the removed one is named, not an unknown id
    auto one = verify({rewritten_, "--exported", jsonl_, "cccc0000"});
    EXPECT_EQ(one.exit_code, 1) << one.out << one.err;
    EXPECT_NE(one.err.find("cccc000000000003  REMOVED"), std::string::npos) << one.err;
    EXPECT_EQ(one.err.find("bbbb000000000002"), std::string::npos) << one.err;
    // and by time: what started before the range is not this check's
    auto late = verify({rewritten_, "--exported", jsonl_, "--since", "2024-10-29T12:23:00Z"});
    EXPECT_EQ(late.exit_code, 1) << late.out << late.err;
    EXPECT_NE(late.err.find("cccc000000000003  REMOVED"), std::string::npos) << late.err;
    EXPECT_EQ(late.err.find("bbbb000000000002"), std::string::npos) << late.err;
}

TEST_F(VerifyExported, TwoHeadsForOneSessionInTheExportAreARewriteExportedAgain) {
    // the rewritten store exported too, into the same file the SIEM keeps
    auto r = run({execaudit_bin(), "export", "--db", rewritten_, "-o", dir_.file("again.jsonl")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    {
        std::ifstream again(dir_.file("again.jsonl"));
        std::ofstream out(jsonl_, std::ios::app);
        out << again.rdbuf();
    }
    auto v = verify({recorded_, "--exported", jsonl_});
    EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
    EXPECT_NE(v.err.find("bbbb000000000002  ALTERED    export: the export holds head"), std::string::npos) << v.err;
    EXPECT_NE(v.err.find("and another head for it at " + jsonl_), std::string::npos) << v.err;
}

TEST_F(VerifyExported, HostileLinesAreCountedAndNamedNeverTrusted) {
    {
        std::ofstream out(jsonl_, std::ios::app);
        out << "not json at all\n"
            << R"({"record_id":"x","session":{"id":"dddd000000000004","chain":{"head":"zz","records":1}}})" << "\n"
            << R"({"hello":"world"})" << "\n"
            << std::string(3, '\0') << "\n";
    }
    auto r = verify({recorded_, "--exported", jsonl_});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;  // nothing they say is taken for a session
    EXPECT_NE(r.out.find("4 lines unreadable"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("export: unreadable line " + jsonl_ + ":"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("a chain that is not a SHA-256 head"), std::string::npos) << r.err;
    auto missing = verify({recorded_, "--exported", dir_.file("nope.jsonl")});
    EXPECT_EQ(missing.exit_code, 2) << missing.err;
    EXPECT_NE(missing.err.find("--exported " + dir_.file("nope.jsonl")), std::string::npos) << missing.err;
}

}  // namespace
