// Retention on sessions written through the real writer thread, with the clock handed to the
// pass (days pass in the store's terms, nobody sleeps): what goes, what stays (held, a namespace
// override, open, not yet exported), the size bounds oldest first, the file shrinking, holds, and
// the ledger telling a deletion by policy from a removal.
#include "common/errors.h"
#include "storage/export_cursor.h"
#include "storage/io_frames.h"
#include "storage/retention.h"
#include "storage/session_holds.h"
#include "storage/session_ledger.h"
#include "storage/session_store.h"
#include "storage/store_writer.h"
#include "storage/upload_spool.h"
#include "tests/support/environment.h"
#include "tests/support/stored_sessions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

using namespace execaudit;
using namespace execaudit::storage;
using execaudit::testing::kSecondNs;
using execaudit::testing::kT0Ns;
using execaudit::testing::sample_command;
using execaudit::testing::sample_session;

namespace {

constexpr int64_t kDay = kDayNs;

std::string noise(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    return s;  // incompressible, so the stored size is the size
}

// A session the way the recorder writes it: start, commands and `chunks` chunks of 32 KiB, end.
void write_session(StoreWriter& w, const std::string& id, int64_t start_ns, const std::string& ns, int chunks, bool end = true) {
    auto s = sample_session(id, start_ns);
    s.namespace_name = ns;
    w.submit(WriteSession{s});
    for (int i = 0; i < chunks; ++i) {
        w.submit(WriteCommand{sample_command(s, static_cast<uint32_t>(i), {"/bin/echo", std::to_string(i)})});
        ChunkEncoder e;
        e.add_bytes(static_cast<uint64_t>(i) * 1000, FrameKind::output, noise(32 << 10, static_cast<uint32_t>(i * 131 + id.back())));
        ChunkRecord c{.session_id = id, .seq = static_cast<uint32_t>(i)};
        c.first_offset_us = e.first_offset_us();
        c.last_offset_us = e.last_offset_us();
        c.frames = e.frames();
        c.output_bytes = e.output_bytes();
        c.frames_data = e.take();
        w.submit(WriteChunk{std::move(c)});
    }
    if (!end) return;
    s.status = "ended";
    s.end_ns = start_ns + 60 * kSecondNs;
    s.exit_code = 0;
    s.commands = static_cast<uint32_t>(chunks);
    w.submit(WriteSession{s});
}

class RetentionTest : public ::testing::Test {
protected:
    Retention::Options fast() const { return {.pause = std::chrono::milliseconds(0)}; }
    std::unique_ptr<StoreWriter> writer() {
        return std::make_unique<StoreWriter>(Database::open(db_, Database::Mode::read_write), StoreWriter::Options{});
    }
    bool stored(const std::string& id) {
        auto db = Database::open(db_, Database::Mode::read_only);
        SessionStore store(db);
        return store.find(id).has_value();
    }
    LedgerCheck ledger_check(std::optional<int64_t> since = std::nullopt) {
        auto db = Database::open(db_, Database::Mode::read_only);
        SqliteLedger ledger(db);
        return verify_ledger(ledger, nullptr, since, std::nullopt);
    }
    int64_t count(const std::string& sql) {
        auto db = Database::open(db_, Database::Mode::read_only);
        auto st = db.prepare(sql);
        st.step();
        return st.column_int(0);
    }
    execaudit::testing::TempDir dir_;
    std::string db_ = dir_.file("sessions.db");
};

TEST(RetentionRules, MostSpecificNamespaceRuleWins) {
    RetentionPolicy p;
    p.days = 30;
    for (const char* r : {"*=1", "prod-*=400", "prod-eu=90", "prod-e?=200", "kube-system=forever"})
        p.namespaces.push_back(parse_namespace_rule(r));
    EXPECT_EQ(rule_for(p, "prod-eu").days, 90u);          // an exact name beats every glob
    EXPECT_EQ(rule_for(p, "prod-eu").text, "retention-namespace prod-eu=90");
    EXPECT_EQ(rule_for(p, "prod-es").days, 200u);         // prod-e? has more literal characters than prod-*
    EXPECT_EQ(rule_for(p, "prod-us").days, 400u);
    EXPECT_EQ(rule_for(p, "dev").days, 1u);               // a glob that matches everything is the least specific
    EXPECT_FALSE(rule_for(p, "kube-system").days.has_value());
    RetentionPolicy d;
    d.days = 30;
    EXPECT_EQ(rule_for(d, "shop").text, "retention-days 30");
    EXPECT_FALSE(rule_for(RetentionPolicy{}, "shop").days.has_value());
}

TEST(RetentionRules, BadRulesAndSizesAreRefusedByName) {
    for (const char* bad : {"prod-*", "=30", "prod-*=0", "prod-*=-1", "prod-*=abc", "prod-*=30d", "prod-*=99999"})
        EXPECT_THROW(parse_namespace_rule(bad), UsageError) << bad;
    EXPECT_EQ(parse_size_bound("10G", "max-db-size").bytes, 10ull << 30);
    EXPECT_EQ(parse_size_bound("512MiB", "max-db-size").bytes, 512ull << 20);
    EXPECT_EQ(parse_size_bound("1073741824", "max-db-size").bytes, 1073741824ull);
    EXPECT_EQ(parse_size_bound("25%", "max-db-size").resolve(400), 100u);
    EXPECT_TRUE(parse_size_bound("0", "max-db-size").off());
    for (const char* bad : {"", "ten", "10X", "-5", "101%", "%", "99999999999T"})
        EXPECT_THROW(parse_size_bound(bad, "max-db-size"), UsageError) << bad;
}

TEST_F(RetentionTest, ExpiredGoesHeldStaysOverrideStaysOpenNeverGoes) {
    {
        auto w = writer();
        write_session(*w, "aaaa000000000001", kT0Ns, "shop", 3);
        write_session(*w, "aaaa000000000002", kT0Ns, "shop", 3);     // held below
        write_session(*w, "aaaa000000000003", kT0Ns, "prod-eu", 3);  // kept 400 days
        write_session(*w, "aaaa000000000004", kT0Ns, "shop", 3, false);  // never ends
        w->flush();
    }
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        hold_sessions(db, {"aaaa000000000002"}, "INC-4711", "alice", kT0Ns + kDay);
    }
    RetentionPolicy p;
    p.days = 30;
    p.namespaces.push_back(parse_namespace_rule("prod-*=400"));
    Retention r(db_, p, nullptr, fast());

    auto early = r.run_pass(kT0Ns + 29 * kDay);  // nothing is due yet
    EXPECT_EQ(early.deleted_by_age, 0u);
    auto pass = r.run_pass(kT0Ns + 31 * kDay);
    EXPECT_EQ(pass.deleted_by_age, 1u);
    EXPECT_EQ(pass.held_kept, 1u);
    EXPECT_FALSE(stored("aaaa000000000001"));
    EXPECT_TRUE(stored("aaaa000000000002"));
    EXPECT_TRUE(stored("aaaa000000000003"));
    EXPECT_TRUE(stored("aaaa000000000004"));
    EXPECT_EQ(count("SELECT count(*) FROM io_chunks WHERE session_id = 'aaaa000000000001'"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM commands WHERE session_id = 'aaaa000000000001'"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM export_outbox WHERE session_id = 'aaaa000000000001'"), 0);

    auto check = ledger_check();
    EXPECT_TRUE(check.problems.empty()) << check.problems.front().detail;
    ASSERT_EQ(check.deleted.size(), 1u);
    EXPECT_EQ(check.deleted[0].session_id, "aaaa000000000001");
    EXPECT_EQ(check.deleted[0].rule, "retention-days 30");
    EXPECT_EQ(check.deleted[0].cause, "age");
    EXPECT_EQ(check.deleted[0].deleted_ns, kT0Ns + 31 * kDay);
    EXPECT_TRUE(check.deleted[0].completed_ns.has_value());
    EXPECT_EQ(check.deleted[0].chain_records, 6u);  // 3 commands + 3 chunks: its head is kept

    pass = r.run_pass(kT0Ns + 401 * kDay);  // the override has passed now; open and held stay whatever the age
    EXPECT_EQ(pass.deleted_by_age, 1u);
    EXPECT_FALSE(stored("aaaa000000000003"));
    EXPECT_TRUE(stored("aaaa000000000002"));
    EXPECT_TRUE(stored("aaaa000000000004"));
    check = ledger_check();
    EXPECT_TRUE(check.problems.empty());
    ASSERT_EQ(check.deleted.size(), 2u);
    EXPECT_EQ(check.deleted[1].rule, "retention-namespace prod-*=400");

    {  // released: the rule applies again
        auto db = Database::open(db_, Database::Mode::read_write);
        release_sessions(db, {"aaaa000000000002"}, "closed", "alice", kT0Ns + 402 * kDay);
        EXPECT_EQ(hold_history(db, "aaaa000000000002").size(), 2u);
    }
    pass = r.run_pass(kT0Ns + 402 * kDay);
    EXPECT_EQ(pass.deleted_by_age, 1u);
    EXPECT_FALSE(stored("aaaa000000000002"));
    EXPECT_TRUE(stored("aaaa000000000004"));
}

TEST_F(RetentionTest, WaitsForEveryExportDestination) {
    {
        auto w = writer();
        write_session(*w, "bbbb000000000001", kT0Ns, "shop", 1);
        w->flush();
    }
    RetentionPolicy p;
    p.days = 1;
    p.export_cursors = {"syslog tls://siem:6514", "jsonl /var/log/x.jsonl"};
    Retention r(db_, p, nullptr, fast());
    auto db = Database::open(db_, Database::Mode::read_write);
    int64_t last = count("SELECT max(position) FROM export_outbox");
    ExportCursor(db, "syslog tls://siem:6514").save(last, kT0Ns);
    auto pass = r.run_pass(kT0Ns + 2 * kDay);  // one destination has not confirmed it
    EXPECT_EQ(pass.deleted_by_age, 0u);
    EXPECT_EQ(pass.unexported_kept, 1u);
    EXPECT_TRUE(stored("bbbb000000000001"));
    ExportCursor(db, "jsonl /var/log/x.jsonl").save(last - 1, kT0Ns);  // all but its end
    EXPECT_EQ(r.run_pass(kT0Ns + 2 * kDay).deleted_by_age, 0u);
    ExportCursor(db, "jsonl /var/log/x.jsonl").save(last, kT0Ns);
    EXPECT_EQ(r.run_pass(kT0Ns + 2 * kDay).deleted_by_age, 1u);
    EXPECT_FALSE(stored("bbbb000000000001"));
}

TEST_F(RetentionTest, InClusterModeWaitsForTheCollector) {
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        enable_upload_spool(db);  // record --collector
    }
    {
        auto w = writer();
        write_session(*w, "bcbc000000000001", kT0Ns, "shop", 2);
        w->flush();
    }
    RetentionPolicy p;
    p.days = 1;
    p.max_db_size = parse_size_bound("1K", "max-db-size");  // neither may delete what the collector has not
    Retention r(db_, p, nullptr, fast());
    auto pass = r.run_pass(kT0Ns + 2 * kDay);
    EXPECT_EQ(pass.deleted_by_age + pass.deleted_by_size, 0u);
    EXPECT_EQ(pass.unexported_kept, 1u);
    EXPECT_TRUE(pass.size_unmet);
    EXPECT_NE(pass.unmet.find("collector"), std::string::npos) << pass.unmet;
    EXPECT_TRUE(stored("bcbc000000000001"));
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        UploadSpool spool(db);
        auto pending = spool.pending(0, 1000);
        ASSERT_FALSE(pending.empty());
        spool.acknowledge(pending.back().position);  // the collector committed it all
    }
    pass = r.run_pass(kT0Ns + 2 * kDay);
    EXPECT_EQ(pass.deleted_by_age, 1u);
    EXPECT_FALSE(stored("bcbc000000000001"));
}

TEST_F(RetentionTest, SizeCapDeletesOldestEndedFirstNeverTheOpenOneAndCountsIt) {
    {
        auto w = writer();
        // three ended sessions of 1 MiB each, oldest first, and an open one still filling the disk
        write_session(*w, "cccc000000000001", kT0Ns, "shop", 32);
        write_session(*w, "cccc000000000002", kT0Ns + kDay, "prod-eu", 32);
        write_session(*w, "cccc000000000003", kT0Ns + 2 * kDay, "shop", 32);
        write_session(*w, "cccc000000000004", kT0Ns + 3 * kDay, "shop", 96, false);
        w->flush();
    }
    RetentionPolicy p;
    p.days = 30;
    p.namespaces.push_back(parse_namespace_rule("prod-*=400"));
    // room for the open session and a little more: the two oldest must go, the newest ended one stays
    // (the schema itself is a few pages: v12 made it one page longer)
    p.max_db_size = parse_size_bound(fmt::format("{}", (96 + 41) << 15), "max-db-size");
    Retention r(db_, p, nullptr, fast());
    auto pass = r.run_pass(kT0Ns + 4 * kDay);  // nothing is past its rule
    EXPECT_EQ(pass.deleted_by_age, 0u);
    EXPECT_EQ(pass.deleted_by_size, 2u);
    ASSERT_EQ(pass.deleted_ids.size(), 2u);
    EXPECT_EQ(pass.deleted_ids[0], "cccc000000000001");
    EXPECT_EQ(pass.deleted_ids[1], "cccc000000000002");  // its 400 days do not protect it from the cap
    EXPECT_TRUE(stored("cccc000000000003"));
    EXPECT_TRUE(stored("cccc000000000004"));
    EXPECT_FALSE(pass.size_unmet);
    EXPECT_LE(pass.used_bytes_after, p.max_db_size.bytes);
    auto check = ledger_check();
    EXPECT_TRUE(check.problems.empty());
    ASSERT_EQ(check.deleted.size(), 2u);
    EXPECT_EQ(check.deleted[0].cause, "size");
    EXPECT_EQ(check.deleted[0].rule, "max-db-size " + p.max_db_size.text);
    EXPECT_GE(check.deleted[0].stored_bytes, 1u << 20);

    // a cap below the open session alone: the ended one goes, the open one never; said, not hidden
    p.max_db_size = parse_size_bound("1M", "max-db-size");
    Retention tight(db_, p, nullptr, fast());
    pass = tight.run_pass(kT0Ns + 4 * kDay);
    EXPECT_EQ(pass.deleted_by_size, 1u);
    EXPECT_TRUE(pass.size_unmet);
    EXPECT_NE(pass.unmet.find("1 sessions open"), std::string::npos) << pass.unmet;
    EXPECT_TRUE(stored("cccc000000000004"));
    EXPECT_TRUE(tight.stats().size_unmet);
}

TEST_F(RetentionTest, TheFileShrinks) {
    {
        auto w = writer();
        for (int i = 0; i < 4; ++i) write_session(*w, fmt::format("dddd00000000000{}", i), kT0Ns, "shop", 64);
        w->flush();
    }
    RetentionPolicy p;
    p.days = 7;
    Retention r(db_, p, nullptr, fast());
    auto pass = r.run_pass(kT0Ns + 8 * kDay);
    EXPECT_EQ(pass.deleted_by_age, 4u);
    // 8 MiB of terminal data went: the file gives it back to the file system (incremental vacuum)
    EXPECT_GE(pass.file_bytes_before, 8u << 20);
    EXPECT_LT(pass.file_bytes_after, 1u << 20) << pass.file_bytes_before << " -> " << pass.file_bytes_after;
    EXPECT_LT(std::filesystem::file_size(db_), 1u << 20);
    EXPECT_EQ(count("PRAGMA freelist_count"), 0);
}

TEST_F(RetentionTest, ARemovalIsNotADeletion) {
    {
        auto w = writer();
        for (int i = 1; i <= 4; ++i) write_session(*w, fmt::format("eeee00000000000{}", i), kT0Ns + i * kSecondNs, "shop", 1);
        w->flush();
    }
    RetentionPolicy p;
    p.days = 1;
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        hold_sessions(db, {"eeee000000000002", "eeee000000000003", "eeee000000000004"}, "keep", "t", kT0Ns);
    }
    Retention(db_, p, nullptr, fast()).run_pass(kT0Ns + 2 * kDay);  // 1 is deleted by policy
    EXPECT_TRUE(ledger_check().problems.empty());
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        // the database refuses to delete a held session, even to someone with the file
        EXPECT_THROW(db.exec("DELETE FROM sessions WHERE id = 'eeee000000000002'"), RuntimeError);
        release_sessions(db, {"eeee000000000002", "eeee000000000003", "eeee000000000004"}, "done", "t", kT0Ns);
        // someone removes 2 outright, dresses the removal of 3 as a deletion, and rewrites 1's rule
        db.exec("DELETE FROM sessions WHERE id = 'eeee000000000002'");
        db.exec("INSERT INTO session_tombstones SELECT 'eeee000000000003', node, namespace, pod, container, user, attribution, "
                "status, start_ns, end_ns, commands, output_bytes, lost_bytes, chain_head, chain_records, head_signature, "
                "signing_key, cause, rule, deleted_ns, completed_ns, stored_bytes FROM session_tombstones "
                "WHERE session_id = 'eeee000000000001'");
        db.exec("DELETE FROM sessions WHERE id = 'eeee000000000003'");
        db.exec("UPDATE session_tombstones SET rule = 'retention-days 365' WHERE session_id = 'eeee000000000001'");
    }
    auto check = ledger_check();
    ASSERT_EQ(check.problems.size(), 3u);
    std::map<std::string, LedgerFinding> by_id;
    for (const auto& f : check.problems) by_id[f.session_id] = f;
    EXPECT_EQ(by_id["eeee000000000002"].verdict, Integrity::removed);
    EXPECT_NE(by_id["eeee000000000002"].detail.find("no retention rule deleted it"), std::string::npos);
    EXPECT_EQ(by_id["eeee000000000003"].verdict, Integrity::removed);
    EXPECT_NE(by_id["eeee000000000003"].detail.find("dressed"), std::string::npos);
    EXPECT_EQ(by_id["eeee000000000001"].verdict, Integrity::altered);
    EXPECT_TRUE(check.deleted.empty());

    // and removing the ledger entries too leaves a hole in the ledger's numbering
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        db.exec("DELETE FROM session_ledger WHERE session_id = 'eeee000000000002'");
    }
    check = ledger_check();
    bool hole = false;
    for (const auto& f : check.problems) hole |= f.session_id.empty() && f.detail.find("missing") != std::string::npos;
    EXPECT_TRUE(hole);
}

TEST_F(RetentionTest, HoldsAreAllOrNothingAndNameWhatIsWrong) {
    {
        auto w = writer();
        write_session(*w, "ffff000000000001", kT0Ns, "shop", 1);
        write_session(*w, "ffff000000000002", kT0Ns, "shop", 1);
        w->flush();
    }
    auto db = Database::open(db_, Database::Mode::read_write);
    try {
        hold_sessions(db, {"ffff000000000001", "0123456789abcdef"}, "case 1", "alice", kT0Ns);
        FAIL() << "a hold on an id that does not exist";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("0123456789abcdef"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(SessionStore(db).find("ffff000000000001")->held);  // nothing was held
    EXPECT_THROW(hold_sessions(db, {"ffff"}, "case 1", "alice", kT0Ns), UsageError);  // ambiguous prefix
    EXPECT_THROW(hold_sessions(db, {"ffff000000000001"}, "", "alice", kT0Ns), UsageError);  // a reason is required
    auto held = hold_sessions(db, {"ffff000000000001"}, "case 1", "alice", kT0Ns);
    ASSERT_EQ(held.size(), 1u);
    EXPECT_TRUE(held[0].changed);
    auto again = hold_sessions(db, {"ffff000000000001"}, "case 2", "bob", kT0Ns + 1);
    EXPECT_FALSE(again[0].changed);
    EXPECT_NE(again[0].note.find("alice"), std::string::npos);
    auto s = SessionStore(db).find("ffff000000000001");
    EXPECT_TRUE(s->held);
    EXPECT_EQ(s->hold_reason, "case 1");
    EXPECT_EQ(s->held_by, "alice");

    RetentionPolicy p;
    p.days = 1;
    Retention(db_, p, nullptr, fast()).run_pass(kT0Ns + 2 * kDay);
    try {
        hold_sessions(db, {"ffff000000000002"}, "too late", "alice", kT0Ns + 3 * kDay);
        FAIL() << "a hold on a deleted session";
    } catch (const UsageError& e) {
        EXPECT_NE(std::string(e.what()).find("deleted by retention"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("retention-days 1"), std::string::npos) << e.what();
    }
}

TEST_F(RetentionTest, RecordsForADeletedSessionDoNotStopTheWriter) {
    {
        auto w = writer();
        write_session(*w, "abab000000000001", kT0Ns, "shop", 1);
        w->flush();
    }
    RetentionPolicy p;
    p.days = 1;
    Retention(db_, p, nullptr, fast()).run_pass(kT0Ns + 2 * kDay);
    ASSERT_FALSE(stored("abab000000000001"));
    // a process of the session outlived its leader and goes on writing to the terminal
    auto w = writer();
    auto s = sample_session("abab000000000001", kT0Ns);
    w->submit(WriteCommand{sample_command(s, 9, {"/bin/true"})});
    ChunkEncoder e;
    e.add_bytes(5, FrameKind::output, "still here\r\n");
    ChunkRecord c{.session_id = s.id, .seq = 9, .frames = e.frames()};
    c.frames_data = e.take();
    w->submit(WriteChunk{std::move(c)});
    s.status = "ended";
    s.end_ns = kT0Ns + kDay;
    w->submit(WriteSession{s});
    write_session(*w, "abab000000000002", kT0Ns + 3 * kDay, "shop", 1);  // and recording goes on
    w->flush();
    EXPECT_FALSE(w->stats().failing);
    EXPECT_EQ(w->stats().failed_commits, 0u);
    w.reset();
    EXPECT_FALSE(stored("abab000000000001"));  // not resurrected
    EXPECT_TRUE(stored("abab000000000002"));
    EXPECT_TRUE(ledger_check().problems.empty());
}

}  // namespace
