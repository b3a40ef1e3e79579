// Retention on sessions recorded for real. Days pass in the store's terms: the pass is given its
// clock (storage/retention.h), nobody sleeps. A session past its rule goes, a held one and a
// prod-* one (a namespace override) stay, an open one never goes; `verify` and `report` name each
// deletion, and a session someone removes outright still fails `verify`. Then the adversary: a
// recorded person floods the terminal so the size cap deletes evidence; the cap deletes the oldest
// ended session, never the open one filling it, never a held one, and `report` flags every such
// deletion.
#include "common/time_format.h"
#include "storage/retention.h"
#include "storage/session_ledger.h"
#include "storage/session_store.h"
#include "tests/support/node_test.h"

#include <gtest/gtest.h>

using namespace execaudit::testing;
using namespace execaudit;
using nlohmann::json;

namespace {

class RetentionE2e : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"openssl", "sqlite3", "base64"}; }

    void make_key() {
        key_ = dir_.file("head.pem");
        ASSERT_EQ(run({"openssl", "genpkey", "-algorithm", "ed25519", "-out", key_}).exit_code, 0);
        ASSERT_EQ(run({"openssl", "pkey", "-in", key_, "-pubout", "-out", key_ + ".pub"}).exit_code, 0);
    }
    /// One real session: a shell that runs `/bin/echo MARK` and exits.
    void session(const std::string& container, const std::string& exec_id, const std::string& mark) {
        PtyProcess shell(bed_->exec_tty(container, exec_id, {"/bin/bash", "--norc"}), 24, 80);
        ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
        ASSERT_TRUE(run_in(shell, "/bin/echo " + mark));
        shell.type("exit 0\r");
        ASSERT_EQ(shell.wait(30s), 0);
    }
    /// The id of the session that ran `/bin/echo MARK`.
    std::string id_of(const std::string& mark) {
        json l = list_sessions(db_, {"--command", mark});
        return l.size() == 1 ? l[0]["id"].get<std::string>() : "";
    }
    bool ended(size_t n) {
        json l = list_sessions(db_);
        size_t e = 0;
        for (const auto& s : l) e += s["status"] == "ended";
        return e == n;
    }
    std::optional<storage::TombstoneRecord> tombstone(const std::string& id) {
        auto db = storage::Database::open(db_, storage::Database::Mode::read_only);
        storage::SqliteLedger ledger(db);
        return ledger.tombstone(id);
    }
    json report() {
        auto r = run({execaudit_bin(), "report", "--db", db_, "--since", "1h", "--format", "json", "--public-key", key_ + ".pub"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return json::parse(r.out);
    }
    std::string key_;
};

TEST_F(RetentionE2e, PastItsRuleGoesHeldAndOverriddenStayOpenNeverGoes) {
    make_key();
    std::string prod = bed_->run_container("prod-eu", "api-1", "app");
    recorder_ = std::make_unique<Recorder>(*bed_, db_, std::vector<std::string>{"--signing-key", key_, "--audit-grace", "0"});
    session(container_, "ret-1", "evidence-one");
    session(container_, "ret-2", "evidence-two");
    session(prod, "ret-3", "evidence-prod");
    ASSERT_TRUE(eventually([&] { return ended(3); }, 60s)) << recorder_->log();
    std::string one = id_of("evidence-one"), two = id_of("evidence-two"), three = id_of("evidence-prod");
    ASSERT_FALSE(one.empty() || two.empty() || three.empty());
    EXPECT_EQ(show_session(db_, three)["namespace"], "prod-eu");

    // a hold on a mistyped id holds nothing and says which
    auto bad = run({execaudit_bin(), "hold", "--db", db_, two, "0123456789abcdef", "--reason", "INC-1"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("0123456789abcdef"), std::string::npos) << bad.err;
    EXPECT_EQ(show_session(db_, two)["legal_hold"], nullptr);
    auto held = run({execaudit_bin(), "hold", "--db", db_, two.substr(0, 8), "--reason", "INC-1 evidence", "--by", "auditor"});
    ASSERT_EQ(held.exit_code, 0) << held.err;
    EXPECT_EQ(show_session(db_, two)["legal_hold"]["reason"], "INC-1 evidence");
    EXPECT_EQ(show_session(db_, two)["legal_hold"]["by"], "auditor");
    auto table = run({execaudit_bin(), "sessions", "--db", db_});
    EXPECT_NE(table.out.find("ended HELD"), std::string::npos) << table.out;

    // one still open while retention runs beside the recorder
    PtyProcess open(bed_->exec_tty(container_, "ret-4", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(open.wait_for("# ", 20s)) << open.output();
    ASSERT_TRUE(run_in(open, "/bin/echo still-open"));
    ASSERT_TRUE(eventually([&] { return !id_of("still-open").empty(); }, 30s));
    std::string four = id_of("still-open");

    storage::RetentionPolicy policy;
    policy.days = 30;
    policy.namespaces.push_back(storage::parse_namespace_rule("prod-*=400"));
    auto signer = std::make_shared<storage::HeadSigner>(storage::HeadSigner::from_pem_file(key_));
    storage::Retention retention(db_, policy, signer, {.pause = std::chrono::milliseconds(0)});
    int64_t now = wall_clock_ns();
    auto pass = retention.run_pass(now + 31 * storage::kDayNs);
    EXPECT_EQ(pass.deleted_by_age, 1u);
    EXPECT_EQ(pass.held_kept, 1u);
    auto gone = tombstone(one);
    ASSERT_TRUE(gone.has_value());
    EXPECT_EQ(gone->rule, "retention-days 30");
    json l = list_sessions(db_);
    EXPECT_EQ(l.size(), 3u);  // two (held), three (prod-*), four (open)

    auto verify = run({execaudit_bin(), "verify", "--db", db_, "--public-key", key_ + ".pub"});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_NE(verify.out.find(one + "  deleted"), std::string::npos) << verify.out;
    EXPECT_NE(verify.out.find("retention-days 30"), std::string::npos) << verify.out;
    auto one_alone = run({execaudit_bin(), "verify", "--db", db_, one});  // its id still answers
    EXPECT_EQ(one_alone.exit_code, 0) << one_alone.out << one_alone.err;
    EXPECT_NE(one_alone.out.find("deleted"), std::string::npos) << one_alone.out;
    json j = report();
    ASSERT_EQ(j["deleted_sessions"].size(), 1u) << j.dump(2);
    EXPECT_EQ(j["deleted_sessions"][0]["id"], one);
    EXPECT_EQ(j["deleted_sessions"][0]["rule"], "retention-days 30");
    EXPECT_EQ(j["deleted_sessions"][0]["cause"], "age");
    EXPECT_EQ(j["findings"]["deleted_by_size_bounds"], 0);
    EXPECT_EQ(j["findings"]["integrity_failures"], 0);

    pass = retention.run_pass(now + 401 * storage::kDayNs);  // the override has passed too
    EXPECT_EQ(pass.deleted_by_age, 1u);
    ASSERT_TRUE(tombstone(three).has_value());
    EXPECT_EQ(tombstone(three)->rule, "retention-namespace prod-*=400");
    EXPECT_FALSE(tombstone(two).has_value());
    EXPECT_FALSE(tombstone(four).has_value());
    EXPECT_EQ(show_session(db_, four)["status"], "open");

    open.type("exit 0\r");
    ASSERT_EQ(open.wait(30s), 0);
    ASSERT_TRUE(eventually([&] { return ended(2); }, 60s)) << recorder_->log();
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();

    // someone with the file removes the held session: the database refuses, until its guard is
    // dropped too; then verify and report still name it
    auto refused = run({"sqlite3", db_, "DELETE FROM sessions WHERE id = '" + two + "';"});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("legal hold"), std::string::npos) << refused.err;
    auto removed = run({"sqlite3", db_,
                        "DROP TRIGGER sessions_held_never_deleted; DELETE FROM session_holds; "
                        "DELETE FROM io_chunks WHERE session_id = '" + two + "'; DELETE FROM commands WHERE session_id = '" +
                            two + "'; DELETE FROM export_outbox WHERE session_id = '" + two +
                            "'; DELETE FROM sessions WHERE id = '" + two + "';"});
    ASSERT_EQ(removed.exit_code, 0) << removed.err;
    verify = run({execaudit_bin(), "verify", "--db", db_, "--public-key", key_ + ".pub"});
    EXPECT_EQ(verify.exit_code, 1) << verify.out << verify.err;
    EXPECT_NE(verify.err.find(two + "  REMOVED"), std::string::npos) << verify.err;
    EXPECT_NE(verify.err.find("no retention rule deleted it"), std::string::npos) << verify.err;
    j = report();
    EXPECT_EQ(j["findings"]["removed_sessions"], 1);
    EXPECT_GE(j["findings"]["integrity_failures"], 1);
    EXPECT_EQ(j["removed_sessions"][0]["id"], two);
    EXPECT_EQ(j["deleted_sessions"].size(), 2u);
}

TEST_F(RetentionE2e, AFloodMakesTheCapDeleteOldestFirstNeverTheOpenOrHeldOneAndItIsFlagged) {
    make_key();
    recorder_ = std::make_unique<Recorder>(
        *bed_, db_,
        std::vector<std::string>{"--signing-key", key_, "--audit-grace", "0", "--max-db-size", "3M", "--min-free-space", "0",
                                 "--retention-interval", "1"},
        dir_.file("recorder.log"));
    session(container_, "cap-0", "evidence-old");
    session(container_, "cap-1", "evidence-held");
    ASSERT_TRUE(eventually([&] { return ended(2); }, 60s)) << recorder_->log();
    std::string old_one = id_of("evidence-old"), held_one = id_of("evidence-held");
    ASSERT_EQ(run({execaudit_bin(), "hold", "--db", db_, held_one, "--reason", "INC-2"}).exit_code, 0);

    // the flood: ~10 MB that barely compresses, in a session that stays open
    PtyProcess flood(bed_->exec_tty(container_, "cap-2", {"/bin/bash", "--norc"}), 24, 120);
    ASSERT_TRUE(flood.wait_for("# ", 20s)) << flood.output();
    ASSERT_TRUE(run_in(flood, "head -c 7500000 /dev/urandom | base64 -w 120", 300s));
    std::string flooder = id_of("head");
    ASSERT_FALSE(flooder.empty());
    // the oldest ended session goes while the flood's own session is open; the held one stays
    ASSERT_TRUE(eventually([&] { return tombstone(old_one).has_value(); }, 120s)) << recorder_->log();
    EXPECT_EQ(tombstone(old_one)->cause, "size");
    EXPECT_EQ(tombstone(old_one)->rule, "max-db-size 3M");
    EXPECT_EQ(show_session(db_, flooder)["status"], "open");
    EXPECT_EQ(show_session(db_, held_one)["status"], "ended");
    EXPECT_TRUE(eventually([&] { return recorder_->log().find("retention: cannot satisfy max-db-size 3M") != std::string::npos; }, 60s))
        << recorder_->log();

    // once it ends, the flood's session is the oldest that may go
    flood.type("exit 0\r");
    ASSERT_EQ(flood.wait(60s), 0);
    ASSERT_TRUE(eventually([&] { auto t = tombstone(flooder); return t && t->completed_ns; }, 120s)) << recorder_->log();
    EXPECT_GT(tombstone(flooder)->stored_bytes, 3u << 20);
    EXPECT_FALSE(tombstone(held_one).has_value());
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();

    auto verify = run({execaudit_bin(), "verify", "--db", db_, "--public-key", key_ + ".pub"});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    json j = report();
    EXPECT_EQ(j["findings"]["deleted_by_size_bounds"], 2) << j.dump(2);
    EXPECT_EQ(j["findings"]["integrity_failures"], 0);
    ASSERT_EQ(j["sessions"].size(), 1u) << j["sessions"].dump(2);  // the held one
    EXPECT_EQ(j["sessions"][0]["id"], held_one);
    auto md = run({execaudit_bin(), "report", "--db", db_, "--since", "1h"});
    EXPECT_NE(md.out.find("BEFORE ITS RETENTION ENDED"), std::string::npos) << md.out;
}

}  // namespace
