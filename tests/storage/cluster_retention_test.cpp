// Retention, legal hold and the session ledger on the cluster store (issue 15; docs/retention.md,
// "For the collector"), against a real PostgreSQL: the leader's pass deletes exactly the sessions
// past their rule (never held, open or unexported ones), `verify --db postgresql://...` tells a
// deletion by rule from a removal by hand, a hold needs the writer's role, a node replaying its
// spool never brings a deleted session back, and only the leading collector deletes.
#include "collector/upload_ingest.h"
#include "storage/postgres/pg_ledger.h"
#include "storage/postgres/pg_retention.h"
#include "storage/postgres/pg_schema.h"
#include "storage/postgres/pg_writer.h"
#include "storage/session_chain.h"
#include "storage/upload_records.h"
#include "tests/support/cluster.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/stored_sessions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <thread>

namespace execaudit::testing {
namespace {
namespace v1 = upload::v1;
namespace pg = storage::pg;

constexpr int64_t kDay = storage::kDayNs;
// "now" for the passes: 40 days after kT0Ns
constexpr int64_t kNow = kT0Ns + 40 * kDay;

struct Spec {
    std::string id;
    std::string ns = "shop";
    int64_t start_ns = kT0Ns;
    bool ended = true;
};

v1::UploadRecord session_record(const Spec& s, const std::string& node) {
    auto r = sample_session(s.id, s.start_ns);
    r.node = node;
    r.namespace_name = s.ns;
    if (s.ended) {
        r.status = "ended";
        r.end_ns = s.start_ns + 5 * kSecondNs;
        r.exit_code = 0;
    }
    v1::UploadRecord u;
    *u.mutable_session() = storage::to_upload(r);
    return u;
}
v1::UploadRecord command_record(const Spec& s, uint32_t seq) {
    v1::UploadRecord u;
    *u.mutable_command() = storage::to_upload(sample_command(sample_session(s.id, s.start_ns), seq, {"/bin/ls", "-l"}));
    return u;
}
v1::UploadRecord chunk_record(const Spec& s, uint32_t seq, const std::string& output = "total 0\r\n") {
    v1::UploadRecord u;
    *u.mutable_chunk() = storage::to_upload(sample_chunk(s.id, seq, output));
    return u;
}
upload::Batch batch_of(const std::string& node, const std::string& spool, std::vector<v1::UploadRecord> records) {
    uint64_t position = 0;
    for (auto& r : records) r.set_position(++position);
    return sample_batch(node, spool, std::move(records));
}
/// A session with two commands and a chunk, as a node uploads it.
std::vector<v1::UploadRecord> whole(const Spec& s, const std::string& node = "node-a") {
    return {session_record(s, node), command_record(s, 0), command_record(s, 1), chunk_record(s, 0)};
}
/// The same with a second chunk of `n` bytes of output.
std::vector<v1::UploadRecord> whole_with(const Spec& s, size_t n) {
    auto r = whole(s);
    std::string output(n, '\0');
    for (size_t i = 0; i < n; ++i) output[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
    r.push_back(chunk_record(s, 1, output));
    return r;
}
/// What the cluster store counts for a session of whole_with(): its chunks' data as uploaded
/// plus, per command, 200 bytes, twice its argv (NUL-separated) and its file names (schema v8).
uint64_t expected_stored_bytes(const std::vector<v1::UploadRecord>& records) {
    uint64_t n = 0;
    for (const auto& r : records) {
        if (r.has_chunk()) n += r.chunk().data().size();
        if (r.has_command()) {
            size_t argv = 0;
            for (const auto& a : r.command().argv()) argv += a.size() + 1;
            n += 200 + 2 * argv + r.command().filename().size() + r.command().exe_path().size();
        }
    }
    return n;
}

class ClusterRetention : public ::testing::Test {
protected:
    void SetUp() override {
        EA_REQUIRE(missing_postgres());
        pg_ = std::make_unique<PostgresServer>();
        c_.emplace(pg::Connection::open(pg_->uri()));
        pg::migrate(*c_);
    }
    void store(const std::vector<Spec>& specs, const std::string& spool = "00112233445566778899aabbccddeeff") {
        std::vector<v1::UploadRecord> records;
        for (const auto& s : specs)
            for (auto& r : whole(s)) records.push_back(std::move(r));
        auto r = collector::ingest_batch(*c_, "node-a", batch_of("node-a", spool, std::move(records)), kT0Ns);
        ASSERT_EQ(r.status, 200) << r.message;
    }
    /// What the leader's exporter does: positions for everything committed, and a destination's cursor.
    void export_all(const std::string& destination) {
        pg::assign_export_positions(*c_);
        q(fmt::format("INSERT INTO export_cursor (name, position, updated_ns) SELECT '{}', max(position), 0 FROM export_outbox "
                      "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                      destination));
    }
    pg::PgRetention::Pass pass(storage::RetentionPolicy policy, int64_t now = kNow) {
        pg::PgRetention r(pg_->uri(), std::move(policy), nullptr, {.pause = std::chrono::milliseconds(0)});
        return r.run_pass(*c_, now);
    }
    std::string q(const std::string& sql) { return pg_->query(sql); }
    std::string uri_as(const std::string& role) {
        return fmt::format("postgresql://{}@127.0.0.1:{}/postgres", role, pg_->port());
    }

    std::unique_ptr<PostgresServer> pg_;
    std::optional<pg::Connection> c_;
};

storage::RetentionPolicy thirty_days() {
    storage::RetentionPolicy p;
    p.days = 30;
    return p;
}

TEST_F(ClusterRetention, APassDeletesExactlyTheSessionsPastTheirRule) {
    store({{.id = "aaaa000000000001"},                                   // ended 40 days ago: goes
           {.id = "aaaa000000000002"},                                   // held: stays
           {.id = "aaaa000000000003", .ended = false},                   // open since 40 days: stays
           {.id = "aaaa000000000004", .start_ns = kT0Ns + 30 * kDay},    // ended 10 days ago: stays
           {.id = "aaaa000000000005", .ns = "prod-eu"},                  // prod-*=400: stays
           {.id = "aaaa000000000006", .ns = "dev", .start_ns = kT0Ns + 30 * kDay},  // dev=7: goes
           {.id = "aaaa000000000007"}});                                 // not exported yet: stays
    export_all("syslog");
    // a late command of 7 after the destination's cursor: 7 is not all exported
    auto late = collector::ingest_batch(*c_, "node-a", batch_of("node-a", "ffff", {command_record({.id = "aaaa000000000007"}, 2)}),
                                        kT0Ns);
    ASSERT_EQ(late.status, 200) << late.message;
    auto held = run({execaudit_bin(), "hold", "aaaa000000000002", "--reason", "INC-4711", "--by", "alice", "--db", pg_->uri()});
    ASSERT_EQ(held.exit_code, 0) << held.err;

    auto policy = thirty_days();
    policy.namespaces = {storage::parse_namespace_rule("prod-*=400"), storage::parse_namespace_rule("dev=7")};
    policy.export_cursors = {"syslog"};
    auto p = pass(policy);
    EXPECT_EQ(p.deleted_by_age, 2u);
    EXPECT_EQ(p.held_kept, 1u);
    EXPECT_EQ(p.unexported_kept, 1u);
    EXPECT_EQ(q("SELECT string_agg(id, ',' ORDER BY id) FROM sessions"),
              "aaaa000000000002,aaaa000000000003,aaaa000000000004,aaaa000000000005,aaaa000000000007\n");
    EXPECT_EQ(q("SELECT string_agg(session_id || ' ' || cause || ' ' || rule || ' ' || (completed_ns IS NOT NULL), ',' "
                "ORDER BY session_id) FROM session_tombstones"),
              "aaaa000000000001 age retention-days 30 true,aaaa000000000006 age retention-namespace dev=7 true\n");
    // nothing of them is left
    EXPECT_EQ(q("SELECT count(*) FROM commands WHERE session_id IN ('aaaa000000000001', 'aaaa000000000006')"), "0\n");
    EXPECT_EQ(q("SELECT count(*) FROM io_chunks WHERE session_id IN ('aaaa000000000001', 'aaaa000000000006')"), "0\n");
    EXPECT_EQ(q("SELECT count(*) FROM export_outbox WHERE session_id IN ('aaaa000000000001', 'aaaa000000000006')"), "0\n");
    // the ledger: 7 recorded when first stored, 2 deleted; a second pass changes nothing
    EXPECT_EQ(q("SELECT kind, count(*) FROM session_ledger GROUP BY kind ORDER BY kind"), "1|7\n2|2\n");
    EXPECT_EQ(pass(policy).deleted_by_age, 0u);

    // once exported, 7 goes too; the held one only once it is released
    export_all("syslog");
    EXPECT_EQ(pass(policy).deleted_by_age, 1u);
    auto released = run({execaudit_bin(), "release", "aaaa0000", "--reason", "closed", "--db", pg_->uri()});
    EXPECT_NE(released.exit_code, 0) << "an ambiguous prefix";
    released = run({execaudit_bin(), "release", "aaaa000000000002", "--reason", "closed", "--db", pg_->uri()});
    ASSERT_EQ(released.exit_code, 0) << released.err;
    EXPECT_EQ(pass(policy).deleted_by_age, 1u);
    EXPECT_EQ(q("SELECT string_agg(action, ',' ORDER BY id) FROM hold_log"), "hold,release\n");
}

TEST_F(ClusterRetention, VerifyTellsADeletionByRuleFromARemovalByHand) {
    store({{.id = "bbbb000000000001"}, {.id = "bbbb000000000002"}, {.id = "bbbb000000000003", .start_ns = kT0Ns + 35 * kDay}});
    ASSERT_EQ(pass(thirty_days()).deleted_by_age, 2u);
    auto ok = run({execaudit_bin(), "verify", "--db", pg_->uri()});
    EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("bbbb000000000001  deleted    past its retention"), std::string::npos) << ok.out;
    EXPECT_NE(ok.out.find("2 deleted by retention rules"), std::string::npos) << ok.out;
    EXPECT_EQ(ok.out.find("keeps no session ledger"), std::string::npos) << ok.out;

    // someone with the database's password removes the third by hand
    q("DELETE FROM sessions WHERE id = 'bbbb000000000003'");
    auto bad = run({execaudit_bin(), "verify", "--db", pg_->uri()});
    EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
    EXPECT_NE(bad.err.find("bbbb000000000003  REMOVED"), std::string::npos) << bad.err;
    EXPECT_EQ(bad.err.find("bbbb000000000001  REMOVED"), std::string::npos) << bad.err;
    // a tombstone forged for it does not pass either: the ledger has no such deletion
    q("INSERT INTO session_tombstones SELECT 'bbbb000000000003', node, namespace, pod, container, username, attribution, "
      "status, start_ns, end_ns, commands, output_bytes, lost_bytes, chain_head, chain_records, head_signature, signing_key, "
      "cause, rule, deleted_ns, completed_ns, stored_bytes FROM session_tombstones WHERE session_id = 'bbbb000000000001'");
    bad = run({execaudit_bin(), "verify", "--db", pg_->uri()});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("bbbb000000000003  REMOVED"), std::string::npos) << bad.err;
    auto report = run({execaudit_bin(), "report", "--since", "2024-10-01T00:00:00Z", "--until", "2025-01-01T00:00:00Z",
                       "--format", "json", "--db", pg_->uri()});
    ASSERT_EQ(report.exit_code, 0) << report.err;
    EXPECT_NE(report.out.find("bbbb000000000001"), std::string::npos);
}

TEST_F(ClusterRetention, AHoldNeedsTheWritersRole) {
    store({{.id = "cccc000000000001"}});
    q("CREATE ROLE execaudit_reader LOGIN");
    q("GRANT SELECT ON ALL TABLES IN SCHEMA public TO execaudit_reader");
    auto r = run({execaudit_bin(), "hold", "cccc000000000001", "--reason", "INC-1", "--db", uri_as("execaudit_reader")});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("needs the collector's writing role"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("SQLSTATE"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("permission denied"), std::string::npos) << r.err;
    EXPECT_EQ(q("SELECT count(*) FROM session_holds"), "0\n");
    // the reader still sees holds placed with the writer's role
    ASSERT_EQ(run({execaudit_bin(), "hold", "cccc", "--reason", "INC-1", "--db", pg_->uri()}).exit_code, 0);
    auto listed = run({execaudit_bin(), "sessions", "--db", uri_as("execaudit_reader")});
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("HELD"), std::string::npos) << listed.out;
    // deleted sessions cannot be held
    store({{.id = "cccc000000000002"}}, "0011");
    ASSERT_EQ(pass(thirty_days()).deleted_by_age, 1u);
    auto gone = run({execaudit_bin(), "hold", "cccc000000000002", "--reason", "INC-2", "--db", pg_->uri()});
    EXPECT_EQ(gone.exit_code, 2);
    EXPECT_NE(gone.err.find("was deleted by retention"), std::string::npos) << gone.err;
}

TEST_F(ClusterRetention, AResendAfterTheDeletionDoesNotRecreateTheSession) {
    Spec s{.id = "dddd000000000001"};
    store({s});
    ASSERT_EQ(pass(thirty_days()).deleted_by_age, 1u);
    // the node's disk was restored from a backup: a new spool replays everything
    auto again = collector::ingest_batch(*c_, "node-a", batch_of("node-a", "feedfeedfeedfeed", whole(s)), kNow);
    EXPECT_EQ(again.status, 200) << again.message;  // acknowledged, so the node moves on
    EXPECT_EQ(again.stored, 0u);
    EXPECT_EQ(again.deleted, 4u);
    EXPECT_EQ(again.deleted_sessions, std::vector<std::string>{s.id});
    EXPECT_EQ(q("SELECT count(*) FROM sessions"), "0\n");
    EXPECT_EQ(q("SELECT count(*) FROM commands"), "0\n");
    EXPECT_EQ(q("SELECT count(*) FROM io_chunks"), "0\n");
    // not even a direct insert brings it back (the database's own guard)
    q("INSERT INTO sessions (id, node, start_ns) VALUES ('dddd000000000001', 'node-a', 1)");
    EXPECT_EQ(q("SELECT count(*) FROM sessions"), "0\n");
    EXPECT_EQ(q("SELECT kind, count(*) FROM session_ledger GROUP BY kind ORDER BY kind"), "1|1\n2|1\n");
    auto v = run({execaudit_bin(), "verify", "--db", pg_->uri()});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

TEST_F(ClusterRetention, ADeletionCutShortIsFinishedByTheNextPass) {
    // a leader died right after committing the tombstone and its ledger entry, before any row went
    store({{.id = "abcd000000000001"}});
    q("INSERT INTO session_tombstones SELECT id, node, namespace, pod, container, username, attribution, status, start_ns, "
      "end_ns, commands, output_bytes, lost_bytes, coalesce(chain_head, ''::bytea), chain_records, "
      "coalesce(head_signature, ''::bytea), signing_key, 'age', 'retention-days 30', " + std::to_string(kNow) +
      ", NULL, 0 FROM sessions");
    {
        pg::PgLedger ledger(*c_);
        auto t = ledger.tombstone("abcd000000000001");
        ASSERT_TRUE(t);
        pg::Transaction tx(*c_);
        pg::append_ledger(*c_, t->session_id, storage::LedgerKind::deleted, kNow, storage::to_bytes(storage::tombstone_digest(*t)),
                          nullptr);
        tx.commit();
    }
    auto v = run({execaudit_bin(), "verify", "--db", pg_->uri()});
    EXPECT_NE(v.out.find("(in progress)"), std::string::npos) << v.out << v.err;
    // the next leader's pass, whatever its rules (here: none by age)
    auto p = pass(storage::RetentionPolicy{});
    EXPECT_EQ(p.finished, 1u);
    EXPECT_EQ(q("SELECT count(*) FROM sessions"), "0\n");
    EXPECT_EQ(q("SELECT count(*) FROM commands"), "0\n");
    EXPECT_EQ(q("SELECT count(*) FROM io_chunks"), "0\n");
    EXPECT_EQ(q("SELECT completed_ns IS NOT NULL FROM session_tombstones"), "t\n");
    v = run({execaudit_bin(), "verify", "--db", pg_->uri()});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_EQ(v.out.find("(in progress)"), std::string::npos) << v.out;
}

TEST_F(ClusterRetention, ReplicasIngestingAtOnceKeepOneUnbrokenLedger) {
    // sessions stored before v6 are entered by the migration: here, through the ledger API
    constexpr int kPerNode = 40;
    auto ingest = [&](const std::string& node, char prefix) {
        auto c = pg::Connection::open(pg_->uri());
        for (int i = 0; i < kPerNode; ++i) {
            Spec s{.id = fmt::format("{}{}{:014x}", prefix, prefix, i)};
            auto r = collector::ingest_batch(c, node, batch_of(node, fmt::format("{:02x}", i + 1), {session_record(s, node)}),
                                             kT0Ns);
            ASSERT_EQ(r.status, 200) << r.message;
        }
    };
    std::thread a(ingest, "node-a", 'a'), b(ingest, "node-b", 'b');
    a.join();
    b.join();
    pg::PgLedger ledger(*c_);
    auto check = storage::verify_ledger(ledger, nullptr, std::nullopt, std::nullopt);
    EXPECT_EQ(check.entries, 2u * kPerNode);
    EXPECT_TRUE(check.problems.empty()) << check.problems.front().detail;
    EXPECT_EQ(q("SELECT min(position), max(position), count(DISTINCT position) FROM session_ledger"),
              fmt::format("1|{0}|{0}\n", 2 * kPerNode));
}

TEST_F(ClusterRetention, TheMigrationEntersSessionsStoredBeforeIt) {
    // a v5 store with a session: rewind to v5, as an older collector left it
    pg_->query("DROP TABLE session_holds, hold_log, session_ledger, session_ledger_head, session_tombstones");
    pg_->query("DROP TRIGGER sessions_deleted_not_again ON sessions; DROP TRIGGER commands_of_deleted_ignored ON commands; "
               "DROP TRIGGER chunks_of_deleted_ignored ON io_chunks");
    pg_->query("DROP FUNCTION execaudit_session_deleted, execaudit_record_of_deleted; DROP INDEX sessions_ended");
    pg_->query("ALTER TABLE sessions DROP COLUMN sealed_ns, DROP COLUMN collector_signature, DROP COLUMN collector_key");  // v7
    pg_->query("ALTER TABLE sessions DROP COLUMN stored_bytes");  // v8
    pg_->query("DELETE FROM execaudit_schema WHERE version >= 6");
    pg_->query("INSERT INTO sessions (id, node, start_ns, status, end_ns) VALUES ('eeee000000000001', 'node-a', 5, 'ended', 6)");
    pg::migrate(*c_);
    EXPECT_EQ(q("SELECT position, session_id, kind FROM session_ledger"), "1|eeee000000000001|1\n");
    auto v = run({execaudit_bin(), "verify", "--db", pg_->uri()});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

// collect --max-db-size: the bound is on what the sessions hold (sessions.stored_bytes, kept at
// ingest), which a deletion lowers at once; pg_total_relation_size would not shrink (PostgreSQL
// reuses freed pages, it does not return them), and every eligible session would go pass after pass.
TEST_F(ClusterRetention, TheSizeBoundDeletesTheOldestUntilWhatTheSessionsHoldFits) {
    constexpr size_t kOutput = 64 << 10;
    std::vector<Spec> specs{{.id = "5150000000000001", .start_ns = kT0Ns},             // oldest: goes
                            {.id = "5150000000000002", .start_ns = kT0Ns + kDay},      // goes
                            {.id = "5150000000000003", .start_ns = kT0Ns + 2 * kDay},  // held: stays
                            {.id = "5150000000000004", .start_ns = kT0Ns + 3 * kDay},  // not exported: stays
                            {.id = "5150000000000005", .start_ns = kT0Ns + 4 * kDay},  // newest, ended
                            {.id = "5150000000000006", .start_ns = kT0Ns + 4 * kDay, .ended = false}};  // open
    std::vector<v1::UploadRecord> records;
    for (const auto& sp : specs)
        for (auto& r : whole_with(sp, kOutput)) records.push_back(std::move(r));
    const uint64_t each = expected_stored_bytes(whole_with(specs[0], kOutput));
    ASSERT_GT(each, kOutput);
    auto first = collector::ingest_batch(*c_, "node-a", batch_of("node-a", "5151", records), kT0Ns);
    ASSERT_EQ(first.status, 200) << first.message;
    // counted at ingest, each record once: a node replaying its spool adds nothing
    auto again = collector::ingest_batch(*c_, "node-a", batch_of("node-a", "5152", records), kT0Ns);
    ASSERT_EQ(again.status, 200) << again.message;
    EXPECT_EQ(q("SELECT string_agg(DISTINCT stored_bytes::text, ',') FROM sessions"), fmt::format("{}\n", each));
    export_all("syslog");
    auto late = collector::ingest_batch(*c_, "node-a", batch_of("node-a", "5153", {command_record(specs[3], 2)}), kT0Ns);
    ASSERT_EQ(late.status, 200) << late.message;
    ASSERT_EQ(run({execaudit_bin(), "hold", specs[2].id, "--reason", "INC-15", "--db", pg_->uri()}).exit_code, 0);

    // 6 sessions hold a bit more than 6 * each; within 4.5 * each once the two oldest are gone
    storage::RetentionPolicy policy;
    policy.export_cursors = {"syslog"};
    policy.max_db_size = storage::parse_size_bound(std::to_string(each * 9 / 2), "max-db-size");
    pg::PgRetention r(pg_->uri(), policy, nullptr, {.pause = std::chrono::milliseconds(0)});
    auto p = r.run_pass(*c_, kNow);
    EXPECT_EQ(p.deleted_by_size, 2u);
    EXPECT_EQ(p.deleted_by_age, 0u);
    EXPECT_FALSE(p.size_unmet) << p.unmet;
    EXPECT_EQ(p.deleted_ids, (std::vector<std::string>{specs[0].id, specs[1].id}));
    EXPECT_EQ(q("SELECT string_agg(session_id || ' ' || cause || ' ' || rule || ' ' || (completed_ns IS NOT NULL), ',' "
                "ORDER BY session_id) FROM session_tombstones"),
              fmt::format("{0} size max-db-size {1} true,{2} size max-db-size {1} true\n", specs[0].id, each * 9 / 2, specs[1].id));
    EXPECT_EQ(q("SELECT count(*) FROM sessions"), "4\n");
    ASSERT_TRUE(p.stored_bytes);
    EXPECT_LE(*p.stored_bytes, each * 9 / 2);
    EXPECT_EQ(fmt::format("{}\n", *p.stored_bytes), q("SELECT sum(stored_bytes) FROM sessions"));
    EXPECT_EQ(r.stats().deleted_by_size, 2u);

    // the measure shrank with the deletion: the next pass deletes nothing more
    p = r.run_pass(*c_, kNow);
    EXPECT_EQ(p.deleted_by_size, 0u);
    EXPECT_FALSE(p.size_unmet);
    EXPECT_EQ(q("SELECT count(*) FROM sessions"), "4\n");

    // a bound below the held, the unexported and the open one: the newest ended session goes, then nothing may
    pg::PgRetention tight(pg_->uri(),
                          [&] {
                              auto t = policy;
                              t.max_db_size = storage::parse_size_bound(std::to_string(each), "max-db-size");
                              return t;
                          }(),
                          nullptr, {.pause = std::chrono::milliseconds(0)});
    p = tight.run_pass(*c_, kNow);
    EXPECT_EQ(p.deleted_ids, std::vector<std::string>{specs[4].id});
    EXPECT_TRUE(p.size_unmet);
    EXPECT_NE(p.unmet.find("1 sessions open, 1 held, 1 ended and unheld but not yet exported"), std::string::npos) << p.unmet;
    EXPECT_TRUE(tight.stats().size_unmet);
    EXPECT_EQ(q("SELECT string_agg(id, ',' ORDER BY id) FROM sessions"),
              fmt::format("{},{},{}\n", specs[2].id, specs[3].id, specs[5].id));
    p = tight.run_pass(*c_, kNow);
    EXPECT_EQ(p.deleted_by_size, 0u);
    EXPECT_TRUE(p.size_unmet);
    // verify counts them as deleted by policy; report lists them as findings
    auto v = run({execaudit_bin(), "verify", "--db", pg_->uri()});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_NE(v.out.find("to stay within the size bounds"), std::string::npos) << v.out;
}

TEST_F(ClusterRetention, TheMigrationCountsWhatTheSessionsStoredBeforeItHold) {
    Spec a{.id = "5eed000000000001"}, b{.id = "5eed000000000002", .ended = false};
    auto ra = whole_with(a, 5000), rb = whole_with(b, 70000);
    std::vector<v1::UploadRecord> records = ra;
    for (auto& r : rb) records.push_back(r);
    ASSERT_EQ(collector::ingest_batch(*c_, "node-a", batch_of("node-a", "5eed", records), kT0Ns).status, 200);
    q("INSERT INTO sessions (id, node, start_ns) VALUES ('5eed000000000003', 'node-a', 1)");  // nothing stored
    const std::string at_ingest = q("SELECT string_agg(id || '=' || stored_bytes, ',' ORDER BY id) FROM sessions");
    EXPECT_EQ(at_ingest, fmt::format("{}={},{}={},5eed000000000003=0\n", a.id, expected_stored_bytes(ra), b.id,
                                     expected_stored_bytes(rb)));
    // as a collector before v8 left it
    q("ALTER TABLE sessions DROP COLUMN stored_bytes");
    q(fmt::format("DELETE FROM execaudit_schema WHERE version >= {}", pg::current_schema_version()));
    pg::migrate(*c_);
    EXPECT_EQ(q("SELECT string_agg(id || '=' || stored_bytes, ',' ORDER BY id) FROM sessions"), at_ingest);
}

// Two real collectors on one store: only the leader deletes (its metric counts them, the other's stays 0).
TEST(ClusterRetentionLeader, OnlyTheLeadingCollectorDeletes) {
    EA_REQUIRE(missing_postgres());
    EA_REQUIRE(missing_program("curl"));
    TempDir dir;
    PostgresServer pgs;
    {
        auto c = pg::Connection::open(pgs.uri());
        pg::migrate(c);
        std::vector<v1::UploadRecord> records;
        for (int i = 0; i < 6; ++i)
            for (auto& r : whole({.id = fmt::format("ffff{:012x}", i)})) records.push_back(std::move(r));
        ASSERT_EQ(collector::ingest_batch(c, "node-a", batch_of("node-a", "0a0a", std::move(records)), kT0Ns).status, 200);
    }
    ClusterPki pki(dir.path());
    std::vector<std::string> args{"--retention-days", "30", "--retention-interval", "0.2"};
    Collector one(pgs.uri(), pki, dir.file("one.log"), args), two(pgs.uri(), pki, dir.file("two.log"), args);
    auto deleted = [](const Collector& c) { return c.metric("retention_deleted_sessions_total{cause=\"age\"}"); };
    for (int i = 0; i < 300 && pgs.query("SELECT count(*) FROM sessions") != "0\n"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_EQ(pgs.query("SELECT count(*) FROM sessions"), "0\n") << one.log() << two.log();
    double a = deleted(one), b = deleted(two);
    EXPECT_EQ(a + b, 6) << a << " " << b;
    bool one_leads = one.metric("collector_leader") == 1;
    EXPECT_EQ(one_leads ? b : a, 0) << "the replica that does not lead deleted: " << a << " " << b;
    EXPECT_EQ(pgs.query("SELECT count(*) FROM session_tombstones WHERE completed_ns IS NOT NULL"), "6\n");
}

// The real collector with --max-db-size: its leader deletes by size, says once that the bound
// cannot be met (a held session), and /metrics says so with the node's metric names.
TEST(ClusterRetentionLeader, TheLeaderSaysOnceThatTheSizeBoundCannotBeMet) {
    EA_REQUIRE(missing_postgres());
    EA_REQUIRE(missing_program("curl"));
    TempDir dir;
    PostgresServer pgs;
    {
        auto c = pg::Connection::open(pgs.uri());
        pg::migrate(c);
        std::vector<v1::UploadRecord> records;
        for (int i = 0; i < 3; ++i)
            for (auto& r : whole({.id = fmt::format("5ee0{:012x}", i), .start_ns = kT0Ns + i * kDay})) records.push_back(std::move(r));
        ASSERT_EQ(collector::ingest_batch(c, "node-a", batch_of("node-a", "0b0b", std::move(records)), kT0Ns).status, 200);
    }
    ASSERT_EQ(run({execaudit_bin(), "hold", "5ee0000000000002", "--reason", "INC-15", "--db", pgs.uri()}).exit_code, 0);
    const std::string held_bytes = pgs.query("SELECT stored_bytes FROM sessions WHERE id = '5ee0000000000002'");

    // a share of a file system means nothing for a remote database
    auto share = run({execaudit_bin(), "collect", "--db", pgs.uri(), "--max-db-size", "25%"});
    EXPECT_EQ(share.exit_code, 2) << share.out << share.err;
    EXPECT_NE(share.err.find("a share of a file system means nothing for the cluster store"), std::string::npos) << share.err;

    ClusterPki pki(dir.path());
    Collector one(pgs.uri(), pki, dir.file("one.log"), {"--max-db-size", "1", "--retention-interval", "0.1"});
    for (int i = 0; i < 300 && one.metric("retention_passes_total") < 5; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_GE(one.metric("retention_passes_total"), 5) << one.log();
    EXPECT_EQ(pgs.query("SELECT string_agg(id, ',') FROM sessions"), "5ee0000000000002\n");
    EXPECT_EQ(pgs.query("SELECT string_agg(cause, ',') FROM session_tombstones"), "size,size\n");
    EXPECT_EQ(one.metric("retention_deleted_sessions_total{cause=\"size\"}"), 2);
    EXPECT_EQ(one.metric("retention_deleted_sessions_total{cause=\"age\"}"), 0);
    EXPECT_EQ(one.metric("retention_size_unmet"), 1);
    EXPECT_EQ(fmt::format("{}\n", one.metric("database_bytes")), held_bytes);
    std::string log = one.log();
    size_t said = 0;
    for (size_t at = 0; (at = log.find("cannot satisfy max-db-size 1", at)) != std::string::npos; ++at) ++said;
    EXPECT_EQ(said, 1u) << log;
    EXPECT_NE(log.find("1 held"), std::string::npos) << log;
}

}  // namespace
}  // namespace execaudit::testing
