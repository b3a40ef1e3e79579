// Folding the kubelet's repeated probe runs (docs/kubelet-execs.md, "Folded runs"): runs written
// through the real writer thread the way the recorder writes them (start, commands, output, end
// with the kubelet judgement, then the correlator's `kubelet` attribution), folded by a retention
// pass with the clock handed to it. One row counts identical runs; a look-alike, a held row, a run
// not yet exported never fold; the ledger tells a folded run from a removed one.
#include "storage/export_cursor.h"
#include "storage/io_frames.h"
#include "storage/retention.h"
#include "storage/schema.h"
#include "storage/session_holds.h"
#include "storage/session_ledger.h"
#include "storage/session_store.h"
#include "storage/store_writer.h"
#include "storage/upload_spool.h"
#include "tests/support/environment.h"
#include "tests/support/stored_sessions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

using namespace execaudit;
using namespace execaudit::storage;
using execaudit::testing::kSecondNs;
using execaudit::testing::kT0Ns;
using execaudit::testing::sample_command;
using execaudit::testing::sample_session;

namespace {

const std::vector<std::string> kProbe = {"/bin/sh", "-c", "cat /tmp/healthy"};

struct ProbeRun {
    std::vector<std::string> argv = kProbe;
    bool tty = false;
    int32_t exit_code = 0;
    std::string container_id = "c0ffee";
    std::string attribution = "kubelet";
    bool extra_command = false;  ///< its tree runs one more command than the probe's
    std::vector<std::string> child = {"cat", "/tmp/healthy"};  ///< what sh runs
    std::string output = "ok\n";
};

// One probe run as the recorder stores it: sh, then cat (a child of sh), a line of output, its end
// judged the kubelet's, then the correlator's verdict.
void write_run(StoreWriter& w, const std::string& id, int64_t start_ns, const ProbeRun& run = {}) {
    auto s = sample_session(id, start_ns, run.argv);
    s.tty = run.tty;
    s.rows = s.cols = 0;
    s.container_id = run.container_id;
    s.entered_via = "runc";
    w.submit(WriteSession{s});
    auto sh = sample_command(s, 0, run.argv);
    sh.pid = 300;
    sh.ppid = 100;
    w.submit(WriteCommand{sh});
    auto cat = sample_command(s, 1, run.child);
    cat.filename = "/bin/cat";
    cat.pid = 301;
    cat.ppid = 300;
    w.submit(WriteCommand{cat});
    uint32_t commands = 2;
    if (run.extra_command) {
        auto more = sample_command(s, 2, {"/bin/sh", "-i"});
        more.pid = 302;
        more.ppid = 301;
        w.submit(WriteCommand{more});
        ++commands;
    }
    ChunkEncoder e;
    e.add_bytes(1000, FrameKind::output, run.output);
    ChunkRecord c{.session_id = id, .seq = 0};
    c.first_offset_us = e.first_offset_us();
    c.last_offset_us = e.last_offset_us();
    c.frames = e.frames();
    c.output_bytes = e.output_bytes();
    c.frames_data = e.take();
    w.submit(WriteChunk{std::move(c)});
    s.status = "ended";
    s.end_ns = start_ns + 4'000'000;  // 4 ms
    s.exit_code = run.exit_code;
    s.commands = commands;
    s.output_bytes = run.output.size();
    s.kubelet = KubeletCheck{.kubelet = run.attribution == "kubelet", .entered_via = "probe", .name = "liveness"};
    w.submit(WriteSession{s});
    WriteAttribution a{.session_id = id, .attribution = run.attribution};
    if (run.attribution == "kubelet") a.entered_via = "probe";
    w.submit(std::move(a));
}

std::string id_of(int i) { return fmt::format("f01d{:012x}", i); }

class FoldRunsTest : public ::testing::Test {
protected:
    Retention::Options fast() const { return {.pause = std::chrono::milliseconds(0)}; }
    std::unique_ptr<StoreWriter> writer() {
        return std::make_unique<StoreWriter>(Database::open(db_, Database::Mode::read_write), StoreWriter::Options{});
    }
    // `n` runs of the probe every 10 s from kT0Ns, through one writer
    void write_runs(int n, int first = 0) {
        auto w = writer();
        for (int i = first; i < first + n; ++i) write_run(*w, id_of(i), kT0Ns + i * 10 * kSecondNs);
        w->flush();
    }
    Retention::Pass fold(RetentionPolicy p = {}) {
        Retention r(db_, std::move(p), nullptr, fast());
        return r.run_pass(kT0Ns + kDayNs);
    }
    std::vector<SessionRecord> rows() {
        auto db = Database::open(db_, Database::Mode::read_only);
        SessionStore store(db);
        SessionFilter f;
        auto out = store.list(f);
        std::reverse(out.begin(), out.end());
        return out;
    }
    LedgerCheck ledger_check() {
        auto db = Database::open(db_, Database::Mode::read_only);
        SqliteLedger ledger(db);
        return verify_ledger(ledger, nullptr, std::nullopt, std::nullopt);
    }
    void exec(const std::string& sql) {
        auto db = Database::open(db_, Database::Mode::read_write);
        db.exec(sql);
    }
    std::string problems(const LedgerCheck& c) {
        std::string out;
        for (const auto& p : c.problems) out += p.session_id + ": " + p.detail + "\n";
        return out;
    }
    execaudit::testing::TempDir dir_;
    std::string db_ = dir_.file("sessions.db");
};

TEST_F(FoldRunsTest, RepeatedProbeRunsBecomeOneRowThatCountsEveryRun) {
    write_runs(6);
    auto pass = fold();
    EXPECT_EQ(pass.folded, 5u);
    auto left = rows();
    ASSERT_EQ(left.size(), 1u);
    const auto& row = left[0];
    EXPECT_EQ(row.id, id_of(0));
    EXPECT_EQ(row.runs, 6u);
    EXPECT_EQ(row.last_run_ns, kT0Ns + 50 * kSecondNs);
    EXPECT_EQ(row.run_min_ns, 4'000'000);
    EXPECT_EQ(row.run_max_ns, 4'000'000);
    EXPECT_EQ(row.commands, 2u);  // the first run's tree is every run's

    // every folded run is a tombstone naming the row, intact in the ledger
    auto check = ledger_check();
    EXPECT_TRUE(check.problems.empty()) << problems(check);
    ASSERT_EQ(check.deleted.size(), 5u);
    for (const auto& t : check.deleted) {
        EXPECT_EQ(t.cause, "folded");
        EXPECT_EQ(t.folded_into(), id_of(0));
        EXPECT_EQ(t.attribution, "kubelet");
        EXPECT_TRUE(t.completed_ns.has_value());
        EXPECT_EQ(t.chain_head.size(), 32u) << "its head: what it was, for whoever holds the export";
    }
    // a later pass folds the next runs into the same row, and nothing twice
    write_runs(2, 6);
    pass = fold();
    EXPECT_EQ(pass.folded, 2u);
    ASSERT_EQ(rows().size(), 1u);
    EXPECT_EQ(rows()[0].runs, 8u);
    EXPECT_EQ(fold().folded, 0u);
    EXPECT_TRUE(ledger_check().problems.empty());
}

TEST_F(FoldRunsTest, ALookAlikeIsNeverFoldedNorFoldedInto) {
    {
        auto w = writer();
        write_run(*w, id_of(0), kT0Ns);
        int i = 1;
        for (ProbeRun r : {ProbeRun{.argv = {"/bin/sh", "-c", "cat /tmp/healthy; id"}}, ProbeRun{.tty = true}, ProbeRun{.exit_code = 1},
                      ProbeRun{.container_id = "d00d"}, ProbeRun{.attribution = "unattributed"}, ProbeRun{.extra_command = true},
                      ProbeRun{.child = {"cat", "/etc/shadow"}}, ProbeRun{.output = "no\n"}})
        {
            write_run(*w, id_of(i), kT0Ns + i * 10 * kSecondNs, r);
            ++i;
        }
        w->flush();
    }
    EXPECT_EQ(fold().folded, 0u);
    auto left = rows();
    ASSERT_EQ(left.size(), 9u);
    for (const auto& s : left) EXPECT_EQ(s.runs, 1u) << s.id;
    // a run like the first one still folds into it, past all of them
    {
        auto w = writer();
        write_run(*w, id_of(9), kT0Ns + 95 * kSecondNs);
        w->flush();
    }
    EXPECT_EQ(fold().folded, 1u);
    EXPECT_EQ(rows().front().runs, 2u);
    // the failing run repeats only a failing run
    {
        auto w = writer();
        write_run(*w, id_of(10), kT0Ns + 105 * kSecondNs, ProbeRun{.exit_code = 1});
        w->flush();
    }
    EXPECT_EQ(fold().folded, 1u);
    for (const auto& s : rows()) EXPECT_EQ(s.runs, s.id == id_of(0) || s.id == id_of(3) ? 2u : 1u) << s.id;
}

TEST_F(FoldRunsTest, AHeldRowIsNeverFoldedIntoAndAHeldRunNeverFolds) {
    write_runs(1);
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        hold_sessions(db, {id_of(0)}, "INC-4711", "alice", kT0Ns);
    }
    write_runs(3, 1);
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        hold_sessions(db, {id_of(3)}, "INC-4711", "alice", kT0Ns);
    }
    EXPECT_EQ(fold().folded, 1u);  // run 2 into run 1; the held 0 and 3 stay as they are
    auto left = rows();
    ASSERT_EQ(left.size(), 3u);
    EXPECT_EQ(left[0].id, id_of(0));
    EXPECT_EQ(left[0].runs, 1u);
    EXPECT_EQ(left[1].id, id_of(1));
    EXPECT_EQ(left[1].runs, 2u);
    EXPECT_EQ(left[2].id, id_of(3));
    EXPECT_EQ(left[2].runs, 1u);
}

TEST_F(FoldRunsTest, ARunFoldsOnlyOnceEveryDestinationAndTheCollectorHaveIt) {
    write_runs(3);
    RetentionPolicy p;
    p.export_cursors = {"jsonl /var/log/x.jsonl"};
    EXPECT_EQ(fold(p).folded, 0u);  // the SIEM has not confirmed them
    int64_t newest = 0;
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        auto st = db.prepare("SELECT max(position) FROM export_outbox");
        st.step();
        newest = st.column_int(0);
        ExportCursor(db, "jsonl /var/log/x.jsonl").save(newest, kT0Ns);
    }
    EXPECT_EQ(fold(p).folded, 2u);

    // cluster mode: what the collector has not committed stays
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        enable_upload_spool(db);
    }
    write_runs(2, 3);
    EXPECT_EQ(fold().folded, 0u);
    {
        auto db = Database::open(db_, Database::Mode::read_write);
        UploadSpool spool(db);
        auto pending = spool.pending(0, 1000);
        ASSERT_FALSE(pending.empty());
        spool.acknowledge(pending.back().position);
    }
    EXPECT_EQ(fold().folded, 2u);
    {
        // counting a run is no change the collector needs: it has every run as uploaded
        auto db = Database::open(db_, Database::Mode::read_only);
        auto st = db.prepare("SELECT count(*) FROM upload_outbox");
        st.step();
        EXPECT_EQ(st.column_int(0), 0);
    }
    EXPECT_EQ(rows().at(0).runs, 5u);
}

TEST_F(FoldRunsTest, ARunFoldsOnlyIntoARecentRow) {
    {
        auto w = writer();
        write_run(*w, id_of(0), kT0Ns);
        write_run(*w, id_of(1), kT0Ns + 3000 * kSecondNs);  // 50 min later: folds
        write_run(*w, id_of(2), kT0Ns + 3700 * kSecondNs);  // over an hour after the row's start: a new row
        write_run(*w, id_of(3), kT0Ns + 3710 * kSecondNs);
        w->flush();
    }
    EXPECT_EQ(fold().folded, 2u);
    auto left = rows();
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[0].runs, 2u);
    EXPECT_EQ(left[1].id, id_of(2));
    EXPECT_EQ(left[1].runs, 2u);
}

TEST_F(FoldRunsTest, VerifyTellsAFoldedRunFromARemovedOne) {
    write_runs(4);
    ASSERT_EQ(fold().folded, 3u);
    ASSERT_TRUE(ledger_check().problems.empty());

    // a folded run's tombstone removed: the run is gone without a trace but the ledger's
    exec(fmt::format("DELETE FROM session_tombstones WHERE session_id = '{}'", id_of(2)));
    auto check = ledger_check();
    ASSERT_FALSE(check.problems.empty());
    bool named = false;
    for (const auto& p : check.problems) named |= p.session_id == id_of(2) && p.verdict == Integrity::removed;
    EXPECT_TRUE(named) << problems(check);
}

TEST_F(FoldRunsTest, ARunChangedOnTheNodeIsNeverFoldedIntoATombstone) {
    write_runs(3);
    // run 1's record changed after the fact (what it ran looks the same): its chain no longer matches
    exec(fmt::format("UPDATE commands SET chain_hash = zeroblob(32) WHERE session_id = '{}' AND seq = 1", id_of(1)));
    EXPECT_EQ(fold().folded, 1u);  // run 2 into run 0; run 1 stays, for verify to name
    auto left = rows();
    ASSERT_EQ(left.size(), 2u);
    EXPECT_EQ(left[0].runs, 2u);
    EXPECT_EQ(left[1].id, id_of(1));
}

TEST_F(FoldRunsTest, ACountEditedByHandFailsVerify) {
    write_runs(4);
    ASSERT_EQ(fold().folded, 3u);
    exec(fmt::format("UPDATE sessions SET runs = 2 WHERE id = '{}'", id_of(0)));
    auto check = ledger_check();
    ASSERT_EQ(check.problems.size(), 1u) << problems(check);
    EXPECT_EQ(check.problems[0].session_id, id_of(0));
    EXPECT_EQ(check.problems[0].verdict, Integrity::altered);
}

TEST(FoldRunsSchema, V12CountsRunsAndTakesTheFoldedCause) {
    execaudit::testing::TempDir dir;
    auto db = Database::open(dir.file("s.db"), Database::Mode::read_write);
    EXPECT_EQ(schema_version(db), 12);
    auto st = db.prepare("SELECT instr(sql, '''folded''') > 0 FROM sqlite_master WHERE name = 'session_tombstones'");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_int(0), 1);
}

}  // namespace
