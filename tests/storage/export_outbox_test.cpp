// The export outbox: filled by triggers in the writer's transactions, in commit order, one entry
// per record, and the per-destination cursor.
#include "storage/export_cursor.h"
#include "storage/export_outbox.h"
#include "storage/recorder_restart.h"
#include "storage/schema.h"
#include "tests/support/environment.h"
#include "tests/support/stored_sessions.h"

#include <gtest/gtest.h>

using namespace execaudit;
using namespace execaudit::storage;
using namespace execaudit::testing;

namespace {

std::vector<std::string> ids(const std::vector<OutboxEntry>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries) out.push_back(record_id(e));
    return out;
}

class OutboxTest : public ::testing::Test {
protected:
    TempDir dir_;
    std::string path_ = dir_.file("sessions.db");
};

TEST_F(OutboxTest, OneEntryPerRecordInCommitOrder) {
    auto a = sample_session("aaaa000000000001", kT0Ns);
    auto b = sample_session("bbbb000000000002", kT0Ns + kSecondNs);
    // The writer re-sends a session row on every change; only real transitions are records.
    auto a_counting = a;
    a_counting.output_bytes = 10;
    auto a_ended = a_counting;
    a_ended.status = "ended";
    a_ended.end_ns = kT0Ns + 9 * kSecondNs;
    write_ops(path_, {WriteSession{a}, WriteCommand{sample_command(a, 0, {"/bin/bash"})}, WriteSession{a_counting},
                      WriteSession{b}, WriteCommand{sample_command(b, 0, {"/bin/sh"})},
                      WriteCommand{sample_command(a, 2, {"ls"})},  // results arrive out of seq order
                      WriteCommand{sample_command(a, 1, {"cat"})}, WriteSession{a_counting}, WriteSession{a_ended},
                      WriteSession{a_ended}});
    auto db = Database::open(path_, Database::Mode::read_write);
    ExportOutbox outbox(db);
    auto all = outbox.after(0, 100);
    EXPECT_EQ(ids(all), (std::vector<std::string>{"aaaa000000000001:start", "aaaa000000000001:command:0",
                                                  "bbbb000000000002:start", "bbbb000000000002:command:0",
                                                  "aaaa000000000001:command:2", "aaaa000000000001:command:1",
                                                  "aaaa000000000001:end"}));
    for (size_t i = 1; i < all.size(); ++i) EXPECT_GT(all[i].position, all[i - 1].position);
    EXPECT_EQ(outbox.last_position(), all.back().position);
    EXPECT_EQ(outbox.count_after(all[2].position), 4);
    EXPECT_EQ(ids(outbox.after(all[1].position, 2)),
              (std::vector<std::string>{"bbbb000000000002:start", "bbbb000000000002:command:0"}));
    EXPECT_EQ(ids(outbox.after(0, 100, std::string("bbbb000000000002"))),
              (std::vector<std::string>{"bbbb000000000002:start", "bbbb000000000002:command:0"}));

    // Rewriting a command the writer already stored is the same record, not a new one.
    write_ops(path_, {WriteCommand{sample_command(a, 1, {"cat"})}});
    EXPECT_EQ(outbox.after(all.back().position, 100).size(), 0u);
}

TEST_F(OutboxTest, AttributionDecidedLaterIsARecordOfItsOwn) {
    auto s = sample_session("cccc000000000003", kT0Ns);
    write_ops(path_, {WriteSession{s}});
    auto db = Database::open(path_, Database::Mode::read_write);
    ExportOutbox outbox(db);
    int64_t after_start = outbox.last_position();
    // What the correlator does: it owns these columns; the writer never touches them.
    db.exec("UPDATE sessions SET attribution = 'pending' WHERE id = 'cccc000000000003'");
    EXPECT_TRUE(outbox.after(after_start, 10).empty());
    db.exec("UPDATE sessions SET attribution = 'audit', user = 'alice' WHERE id = 'cccc000000000003'");
    db.exec("UPDATE sessions SET user = 'alice' WHERE id = 'cccc000000000003'");
    db.exec("UPDATE sessions SET attribution = 'ambiguous' WHERE id = 'cccc000000000003'");
    auto entries = outbox.after(after_start, 10);
    EXPECT_EQ(ids(entries), (std::vector<std::string>{"cccc000000000003:attributed:0", "cccc000000000003:attributed:1"}));
    // interrupted by a recorder that stopped, or closed at the next start after a crash
    EXPECT_EQ(close_abandoned_sessions(db), 1);
    EXPECT_EQ(record_id(outbox.after(entries.back().position, 10).at(0)), "cccc000000000003:end");
}

TEST_F(OutboxTest, SessionsRecordedBeforeTheMigrationAreBackfilled) {
    write_finished_session(path_, "dddd000000000004", kT0Ns + kSecondNs, 2);
    auto open_one = sample_session("eeee000000000005", kT0Ns);
    write_ops(path_, {WriteSession{open_one}, WriteCommand{sample_command(open_one, 0, {"/bin/bash"})}});
    {
        // Back to the schema before export existed (v2), data kept: v3 (export), v4 (attribution
        // keys, which only adds columns and rebuilds audit_events), v5 (exe columns), v6 (restart), v7 (hash chains),
        // v8 (upload spool), v9 (retention), v10 (kubelet judgements), v11 (pod metadata) and v12 (folded runs) run again.
        auto db = Database::open(path_, Database::Mode::read_write);
        db.exec("DROP TRIGGER upload_session_update; "  // v12 (and v8's trigger it replaced)
                "ALTER TABLE sessions DROP COLUMN runs; ALTER TABLE sessions DROP COLUMN last_run_ns; "
                "ALTER TABLE sessions DROP COLUMN run_min_ns; ALTER TABLE sessions DROP COLUMN run_max_ns; "
                "DROP INDEX sessions_workload; ALTER TABLE sessions DROP COLUMN pod_labels; "  // v11
                "ALTER TABLE sessions DROP COLUMN pod_labels_dropped; ALTER TABLE sessions DROP COLUMN owner_kind; "
                "ALTER TABLE sessions DROP COLUMN owner_name; ALTER TABLE sessions DROP COLUMN workload_kind; "
                "ALTER TABLE sessions DROP COLUMN workload_name; ALTER TABLE sessions DROP COLUMN service_account; "
                "ALTER TABLE sessions DROP COLUMN cluster; "
                "ALTER TABLE sessions DROP COLUMN kubelet_check; "  // v10
                "DROP TRIGGER sessions_held_never_deleted; DROP TRIGGER commands_of_deleted_ignored; "  // v9
                "DROP TRIGGER chunks_of_deleted_ignored; DROP TRIGGER sessions_deleted_not_again; DROP INDEX sessions_end; "
                "DROP TABLE session_holds; DROP TABLE hold_log; DROP TABLE session_ledger; DROP TABLE session_tombstones; "
                "DROP TRIGGER upload_session_insert; "  // v8
                "DROP TRIGGER upload_command; DROP TRIGGER upload_chunk; DROP TABLE upload_outbox; "
                "DROP TRIGGER export_session_start; DROP TRIGGER export_session_end; "
                "DROP TRIGGER export_session_attributed; DROP TRIGGER export_command; "
                "DROP TABLE export_outbox; DROP TABLE export_cursor; "
                "ALTER TABLE exec_requests DROP COLUMN audit_id; ALTER TABLE exec_requests DROP COLUMN verified; "
                "ALTER TABLE exec_requests DROP COLUMN command_lp; ALTER TABLE sessions DROP COLUMN request_id; "
                "ALTER TABLE sessions DROP COLUMN user_verified; ALTER TABLE sessions DROP COLUMN argv_prefix_matched; "
                "ALTER TABLE commands DROP COLUMN exe_path; ALTER TABLE commands DROP COLUMN exe_ino; "  // v5
                "ALTER TABLE commands DROP COLUMN exe_dev; ALTER TABLE commands DROP COLUMN exe_fileless; "
                "DROP INDEX sessions_open; ALTER TABLE sessions DROP COLUMN kernel_session_id; "  // v6
                "DROP TABLE recorder_state; "
                "ALTER TABLE commands DROP COLUMN chain_index; ALTER TABLE commands DROP COLUMN chain_hash; "  // v7
                "ALTER TABLE io_chunks DROP COLUMN chain_index; ALTER TABLE io_chunks DROP COLUMN chain_hash; "
                "ALTER TABLE sessions DROP COLUMN chain_start; ALTER TABLE sessions DROP COLUMN chain_head; "
                "ALTER TABLE sessions DROP COLUMN chain_records; ALTER TABLE sessions DROP COLUMN head_signature; "
                "ALTER TABLE sessions DROP COLUMN signing_key; "
                "PRAGMA user_version = 2");
        auto left = db.prepare("SELECT count(*) FROM sqlite_master WHERE name LIKE 'export%'");
        left.step();
        ASSERT_EQ(left.column_int(0), 0);
    }
    auto db = Database::open(path_, Database::Mode::read_write);  // migrates again
    ExportOutbox outbox(db);
    EXPECT_EQ(ids(outbox.after(0, 100)),
              (std::vector<std::string>{"eeee000000000005:start", "eeee000000000005:command:0", "dddd000000000004:start",
                                        "dddd000000000004:command:0", "dddd000000000004:command:1",
                                        "dddd000000000004:end"}));
}

TEST_F(OutboxTest, CursorPersistsPerDestinationAndNeverMovesBack) {
    write_ops(path_, {});
    {
        auto db = Database::open(path_, Database::Mode::read_write);
        ExportCursor syslog(db, "syslog tcp://127.0.0.1:514");
        EXPECT_EQ(syslog.load(), 0);
        syslog.save(42, kT0Ns);
        syslog.save(41, kT0Ns);
        ExportCursor(db, "jsonl /tmp/x").save(7, kT0Ns);
    }
    auto db = Database::open(path_, Database::Mode::read_write);
    EXPECT_EQ(ExportCursor(db, "syslog tcp://127.0.0.1:514").load(), 42);
    EXPECT_EQ(ExportCursor(db, "jsonl /tmp/x").load(), 7);
    EXPECT_EQ(ExportCursor(db, "jsonl /tmp/y").load(), 0);
}

}  // namespace
