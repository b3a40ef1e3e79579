// Tamper evidence on both stores: sessions written by the real writer thread with a signing key,
// then altered the ways an attacker with database access would (a flipped byte in a chunk, a
// deleted command, two chunks swapped, a truncated session, a head re-signed with another key).
// `verify` names each and its first bad record; untouched sessions verify. On SQLite, and on
// PostgreSQL after a copy through pg_writer (what the collector stores from an upload).
#include "storage/chain_verify.h"
#include "storage/compression.h"
#include "storage/postgres/pg_ledger.h"
#include "storage/postgres/pg_schema.h"
#include "storage/postgres/pg_store.h"
#include "storage/postgres/pg_writer.h"
#include "storage/recorder_restart.h"
#include "storage/session_chain.h"
#include "storage/session_store.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/stored_sessions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>

namespace execaudit::testing {
namespace {

std::string make_key(const TempDir& dir, const std::string& name) {
    std::string priv = dir.file(name + ".pem"), pub = dir.file(name + ".pub");
    auto r = run({"openssl", "genpkey", "-algorithm", "ed25519", "-out", priv});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    r = run({"openssl", "pkey", "-in", priv, "-pubout", "-out", pub});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return name;
}

// A session as the recorder writes it: start, commands and chunks interleaved (a gap and a
// resize among the frames), then its end.
void write_session(storage::StoreWriter& w, const std::string& id, int64_t start_ns) {
    auto s = sample_session(id, start_ns);
    w.submit(storage::WriteSession{s});
    for (uint32_t i = 0; i < 4; ++i) {
        w.submit(storage::WriteCommand{sample_command(s, i, {"/bin/echo", std::to_string(i)})});
        storage::ChunkEncoder e;
        e.add_bytes(i * 1000'000, storage::FrameKind::output, fmt::format("output of command {} {}\r\n", i, std::string(200, 'x')));
        if (i == 1) e.add_gap(i * 1000'000 + 10, 2, 512);
        if (i == 2) e.add_resize(i * 1000'000 + 20, 40, 120);
        storage::ChunkRecord c;
        c.session_id = id;
        c.seq = i;
        c.first_offset_us = e.first_offset_us();
        c.last_offset_us = e.last_offset_us();
        c.frames = e.frames();
        c.output_bytes = e.output_bytes();
        c.frames_data = e.take();
        w.submit(storage::WriteChunk{std::move(c)});
    }
    s.status = "ended";
    s.end_ns = start_ns + 10 * kSecondNs;
    s.exit_code = 0;
    s.commands = 4;
    w.submit(storage::WriteSession{s});
}

// The five tampered sessions and the untouched one, by id.
const std::vector<std::string> kIds = {"aaaa000000000001", "aaaa000000000002", "aaaa000000000003",
                                       "aaaa000000000004", "aaaa000000000005", "aaaa000000000006"};

class ChainVerify : public ::testing::Test {
protected:
    void SetUp() override {
        EA_REQUIRE(missing_program("openssl"));
        make_key(dir_, "node");
        make_key(dir_, "other");
        db_ = dir_.file("sessions.db");
        auto signer = std::make_shared<storage::HeadSigner>(storage::HeadSigner::from_pem_file(dir_.file("node.pem")));
        storage::StoreWriter w(storage::Database::open(db_, storage::Database::Mode::read_write), {.signer = signer});
        for (size_t i = 0; i < kIds.size(); ++i) write_session(w, kIds[i], kT0Ns + static_cast<int64_t>(i) * kSecondNs);
        w.flush();
        w.stop();
    }

    // Tampering with raw SQL, as someone with the file would.
    void tamper_sqlite() {
        auto db = storage::Database::open(db_, storage::Database::Mode::read_write);
        storage::SessionStore store(db);
        // 1: one byte of chunk 1's terminal output flipped (written back uncompressed)
        auto k = store.chunk(kIds[0], 1);
        ASSERT_TRUE(k) << k.error();
        std::string data = k->frames_data;
        data[data.size() / 2] ^= 0x01;
        auto up = db.prepare("UPDATE io_chunks SET data = ?3, encoding = 0, raw_size = ?4 WHERE session_id = ?1 AND seq = ?2");
        up.bind(1, kIds[0]).bind(2, int64_t{1}).bind_blob(3, data).bind(4, static_cast<int64_t>(data.size()));
        up.run();
        // 2: command 1 deleted
        db.exec(fmt::format("DELETE FROM commands WHERE session_id = '{}' AND seq = 1", kIds[1]));
        // 3: chunks 1 and 2 swapped
        db.exec(fmt::format("UPDATE io_chunks SET seq = 99 WHERE session_id = '{0}' AND seq = 1; "
                            "UPDATE io_chunks SET seq = 1 WHERE session_id = '{0}' AND seq = 2; "
                            "UPDATE io_chunks SET seq = 2 WHERE session_id = '{0}' AND seq = 99",
                            kIds[2]));
        // 4: truncated: its last chunk and last command gone
        db.exec(fmt::format("DELETE FROM io_chunks WHERE session_id = '{0}' AND seq = 3; "
                            "DELETE FROM commands WHERE session_id = '{0}' AND seq = 3",
                            kIds[3]));
        // 5: its end changed (exit code 0 -> 1) and the head recomputed and re-signed with another key
        resign(db, kIds[4]);
    }
    void resign(storage::Database& db, const std::string& id) {
        db.exec(fmt::format("UPDATE sessions SET exit_code = 1 WHERE id = '{}'", id));
        storage::SessionStore store(db);
        auto s = store.find(id);
        ASSERT_TRUE(s);
        auto report = storage::verify_session(store, *s, nullptr);  // the attacker recomputes what the chain says
        ASSERT_EQ(report.verdict, storage::Integrity::altered);
        storage::ChainHash last{};
        uint64_t records = 0;
        for (const auto& c : store.commands(id))
            if (c.chain_index && *c.chain_index > records) records = *c.chain_index, storage::from_bytes(c.chain_hash, last);
        (void)store.for_each_chunk(id, [&](const storage::ChunkRecord& k) {
            if (k.chain_index && *k.chain_index > records) records = *k.chain_index, storage::from_bytes(k.chain_hash, last);
        });
        std::string head = storage::to_bytes(storage::chain_head(last, *s, records));
        auto other = storage::HeadSigner::from_pem_file(dir_.file("other.pem"));
        auto up = db.prepare("UPDATE sessions SET chain_head = ?2, head_signature = ?3, signing_key = ?4 WHERE id = ?1");
        up.bind(1, id).bind_blob(2, head).bind_blob(3, other.sign(storage::head_message(id, head))).bind(4, other.key_id());
        up.run();
    }

    std::map<std::string, storage::SessionIntegrity> verify_all(storage::SessionReader& store, bool with_key) {
        auto key = storage::HeadVerifier::from_pem_file(dir_.file("node.pub"));
        std::map<std::string, storage::SessionIntegrity> out;
        for (const auto& s : store.list({})) out[s.id] = storage::verify_session(store, s, with_key ? &key : nullptr);
        return out;
    }

    void expect_each_named(std::map<std::string, storage::SessionIntegrity> r) {
        ASSERT_EQ(r.size(), kIds.size());
        using storage::Integrity;
        EXPECT_EQ(r[kIds[0]].verdict, Integrity::altered) << r[kIds[0]].detail;
        EXPECT_NE(r[kIds[0]].detail.find("chunk 1 "), std::string::npos) << r[kIds[0]].detail;
        EXPECT_EQ(r[kIds[1]].verdict, Integrity::removed) << r[kIds[1]].detail;
        EXPECT_NE(r[kIds[1]].detail.find("record 3 is missing"), std::string::npos) << r[kIds[1]].detail;  // command 1
        EXPECT_EQ(r[kIds[2]].verdict, Integrity::reordered) << r[kIds[2]].detail;
        EXPECT_NE(r[kIds[2]].detail.find("chunk 2 (record 4)"), std::string::npos) << r[kIds[2]].detail;
        EXPECT_EQ(r[kIds[3]].verdict, Integrity::truncated) << r[kIds[3]].detail;
        EXPECT_NE(r[kIds[3]].detail.find("covers 8 records, 6 are stored"), std::string::npos) << r[kIds[3]].detail;
        EXPECT_EQ(r[kIds[4]].verdict, Integrity::bad_signature) << r[kIds[4]].detail;
        EXPECT_EQ(r[kIds[5]].verdict, Integrity::intact) << r[kIds[5]].detail;
        EXPECT_EQ(r[kIds[5]].records, 8u);
    }

    TempDir dir_;
    std::string db_;
};

TEST_F(ChainVerify, AnUntouchedDatabaseVerifiesWithAndWithoutTheKey) {
    auto db = storage::Database::open(db_, storage::Database::Mode::read_only);
    storage::SessionStore store(db);
    for (bool key : {false, true})
        for (const auto& [id, r] : verify_all(store, key)) {
            EXPECT_EQ(r.verdict, storage::Integrity::intact) << id << ": " << r.detail;
            EXPECT_EQ(r.records, 8u);
            EXPECT_GT(r.bytes, 800u);
        }
    // the CLI agrees, and says what it checked
    auto cli = run({execaudit_bin(), "verify", "--db", db_, "--public-key", dir_.file("node.pub")});
    EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
    EXPECT_NE(cli.out.find("6 sessions checked"), std::string::npos) << cli.out;
    EXPECT_NE(cli.out.find("6 intact"), std::string::npos) << cli.out;
}

// Root on the node removes a session and the whole ledger, then restarts the recorder: its
// start-up must not enter what is left into a fresh ledger (once, for databases from before the
// ledger, and never again), or the removal would verify.
TEST_F(ChainVerify, ARecorderRestartDoesNotLaunderARemovalIntoAFreshLedger) {
    {
        auto db = storage::Database::open(db_, storage::Database::Mode::read_write);
        auto victim = db.prepare("SELECT id FROM sessions ORDER BY id LIMIT 1");
        ASSERT_TRUE(victim.step());
        std::string id = victim.column_text(0);
        for (const char* table : {"io_chunks", "commands", "export_outbox"}) {
            auto st = db.prepare(fmt::format("DELETE FROM {} WHERE session_id = ?1", table));
            st.bind(1, id);
            st.run();
        }
        auto st = db.prepare("DELETE FROM sessions WHERE id = ?1");
        st.bind(1, id);
        st.run();
        db.exec("DELETE FROM session_ledger");
        db.exec("UPDATE sqlite_sequence SET seq = 0 WHERE name = 'session_ledger'");
    }
    // the recorder starts again
    { storage::StoreWriter w(storage::Database::open(db_, storage::Database::Mode::read_write), {}); }
    auto cli = run({execaudit_bin(), "verify", "--db", db_});
    EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
    EXPECT_NE(cli.err.find("stored, but not in the ledger"), std::string::npos) << cli.err;
}

TEST_F(ChainVerify, EachTamperingIsNamedOnSqlite) {
    tamper_sqlite();
    auto db = storage::Database::open(db_, storage::Database::Mode::read_only);
    storage::SessionStore store(db);
    expect_each_named(verify_all(store, true));
    // without the public key the re-signed session's chain is consistent: only the key tells
    EXPECT_EQ(verify_all(store, false)[kIds[4]].verdict, storage::Integrity::intact);

    auto cli = run({execaudit_bin(), "verify", "--db", db_, "--public-key", dir_.file("node.pub")});
    EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
    for (size_t i = 0; i < 5; ++i) EXPECT_NE(cli.err.find(kIds[i]), std::string::npos) << cli.err;
    EXPECT_NE(cli.err.find("RE-SIGNED"), std::string::npos) << cli.err;
    EXPECT_NE(cli.err.find("5 FAILED"), std::string::npos) << cli.err;
    // one session by its id prefix: the untouched one passes alone
    auto one = run({execaudit_bin(), "verify", kIds[5], "--db", db_, "--public-key", dir_.file("node.pub")});
    EXPECT_EQ(one.exit_code, 0) << one.out << one.err;
    // a key that is not Ed25519's, or no file: bad input, exit 2
    auto bad = run({execaudit_bin(), "verify", "--db", db_, "--public-key", dir_.file("nothing.pub")});
    EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

// The collector's copy: the same records through pg_writer, tampered in PostgreSQL.
TEST_F(ChainVerify, EachTamperingIsNamedOnPostgres) {
    EA_REQUIRE(missing_postgres());
    PostgresServer pg;
    {
        auto db = storage::Database::open(db_, storage::Database::Mode::read_only);
        storage::SessionStore sessions(db);
        auto c = storage::pg::Connection::open(pg.uri());
        storage::pg::migrate(c);
        storage::pg::Transaction tx(c);
        for (const auto& s : sessions.list({})) {
            ASSERT_EQ(storage::pg::put_session(c, s, s.start_ns), storage::pg::PutResult::stored);
            for (const auto& cmd : sessions.commands(s.id))
                ASSERT_EQ(storage::pg::put_command(c, s.node, cmd, cmd.time_ns), storage::pg::PutResult::stored);
            for (uint32_t seq = 0;; ++seq) {
                auto k = sessions.stored_chunk(s.id, seq);
                if (!k) break;
                ASSERT_EQ(storage::pg::put_chunk(c, s.node, *k), storage::pg::PutResult::stored);
            }
        }
        storage::pg::backfill_ledger(c, nullptr);  // as the collector enters each new session
        tx.commit();
    }
    auto c = storage::pg::Connection::open(pg.uri());
    storage::pg::PgSessionStore store(c);
    for (const auto& [id, r] : verify_all(store, true)) EXPECT_EQ(r.verdict, storage::Integrity::intact) << id << ": " << r.detail;

    // the same five tamperings, in the cluster's store
    auto k = store.chunk(kIds[0], 1);
    ASSERT_TRUE(k) << k.error();
    std::string data = k->frames_data;
    data[data.size() / 2] ^= 0x01;
    c.exec("UPDATE io_chunks SET data = $3, encoding = 0, raw_size = $4 WHERE session_id = $1 AND seq = $2",
           {storage::pg::text(kIds[0]), storage::pg::num(int64_t{1}), storage::pg::bytes(data),
            storage::pg::num(static_cast<int64_t>(data.size()))});
    pg.query(fmt::format("DELETE FROM commands WHERE session_id = '{}' AND seq = 1", kIds[1]));
    pg.query(fmt::format("BEGIN; UPDATE io_chunks SET seq = 99 WHERE session_id = '{0}' AND seq = 1; "
                         "UPDATE io_chunks SET seq = 1 WHERE session_id = '{0}' AND seq = 2; "
                         "UPDATE io_chunks SET seq = 2 WHERE session_id = '{0}' AND seq = 99; COMMIT",
                         kIds[2]));
    pg.query(fmt::format("DELETE FROM io_chunks WHERE session_id = '{0}' AND seq = 3; "
                         "DELETE FROM commands WHERE session_id = '{0}' AND seq = 3",
                         kIds[3]));
    auto other = storage::HeadSigner::from_pem_file(dir_.file("other.pem"));
    auto s5 = store.find(kIds[4]);
    ASSERT_TRUE(s5);
    c.exec("UPDATE sessions SET head_signature = $2, signing_key = $3 WHERE id = $1",
           {storage::pg::text(kIds[4]), storage::pg::bytes(other.sign(storage::head_message(kIds[4], s5->chain_head))),
            storage::pg::text(other.key_id())});
    expect_each_named(verify_all(store, true));

    auto cli = run({execaudit_bin(), "verify", "--db", pg.uri(), "--public-key", dir_.file("node.pub")});
    EXPECT_EQ(cli.exit_code, 1) << cli.out << cli.err;
    EXPECT_NE(cli.err.find("5 FAILED"), std::string::npos) << cli.err;
}

TEST_F(ChainVerify, ASessionLeftOpenByACrashIsSealedWhenItIsClosed) {
    std::string path = dir_.file("crash.db");
    {
        storage::StoreWriter w(storage::Database::open(path, storage::Database::Mode::read_write), {});
        auto s = sample_session("c0ffee0000000001", kT0Ns);
        w.submit(storage::WriteSession{s});
        w.submit(storage::WriteCommand{sample_command(s, 0, {"/bin/bash"})});
        w.flush();  // ... and the recorder dies: the session stays open, no head
    }
    auto check = [&] {
        auto db = storage::Database::open(path, storage::Database::Mode::read_only);
        storage::SessionStore store(db);
        auto s = store.find("c0ffee0000000001");
        return storage::verify_session(store, *s, nullptr);
    };
    EXPECT_EQ(check().verdict, storage::Integrity::open);
    // the next recorder: its writer runs, another connection closes the session, then the seal
    storage::StoreWriter w(storage::Database::open(path, storage::Database::Mode::read_write), {});
    auto db = storage::Database::open(path, storage::Database::Mode::read_write);
    ASSERT_EQ(storage::close_abandoned_sessions(db), 1);
    EXPECT_EQ(check().verdict, storage::Integrity::unsealed);
    w.submit(storage::WriteSealEnded{});
    w.flush();
    auto r = check();
    EXPECT_EQ(r.verdict, storage::Integrity::intact) << r.detail;
    EXPECT_EQ(r.records, 1u);
}

TEST(ChainBytes, TheDefinitionIsFrozen) {
    // docs/integrity.md's bytes, pinned: a change here breaks every stored chain
    auto s = sample_session("0123456789abcdef", kT0Ns);
    s.boot_id = "boot";
    EXPECT_EQ(storage::to_hex(storage::to_bytes(storage::chain_start(s))).size(), 64u);
    storage::ChainHash zero{};
    auto c = sample_command(s, 0, {"/bin/true"});
    auto a = storage::chain_command(zero, c);
    c.argv = {"/bin/true", ""};  // an empty argument is an argument
    EXPECT_NE(storage::chain_command(zero, c), a);
    c.argv = {"/bin/tru", "e"};
    EXPECT_NE(storage::chain_command(zero, c), a);
}

}  // namespace
}  // namespace execaudit::testing
