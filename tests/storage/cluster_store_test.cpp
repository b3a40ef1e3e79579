// The cluster store (PostgreSQL) behind the same read interface as the node's SQLite: the same
// session stored in both prints the same through every read command; credentials in a
// `--db postgresql://...` never reach an error, a log or --help. Needs root (runuser nobody) and
// PostgreSQL 15 (tests/support/postgres.h).
#include "storage/io_frames.h"
#include "storage/postgres/pg_ledger.h"
#include "storage/postgres/pg_schema.h"
#include "storage/postgres/pg_writer.h"
#include "storage/request_store.h"
#include "storage/session_store.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/stored_sessions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>

namespace execaudit::testing {
namespace {

// What the collector does with an upload, done here from the file: every session, command,
// chunk, request and verdict of `sqlite` into the cluster store.
void copy_to_postgres(const std::string& sqlite, const std::string& uri) {
    auto db = storage::Database::open(sqlite, storage::Database::Mode::read_only);
    storage::SessionStore sessions(db);
    storage::RequestStore requests(db);
    auto c = storage::pg::Connection::open(uri);
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
    for (const auto& r : requests.list({})) storage::pg::put_request(c, r);
    for (const auto& s : sessions.list({})) {
        storage::pg::Attribution a;
        a.session_id = s.id;
        a.attribution = s.attribution;
        if (!s.request_id.empty()) a.request_id = s.request_id;
        a.audit_id = s.audit_id;
        if (s.user) {
            storage::RequesterRecord who;
            who.user = *s.user;
            who.groups_json = s.groups_json;
            who.source_ips_json = s.source_ips_json;
            who.user_agent = s.user_agent;
            a.requester = who;
        }
        a.verified = s.user_verified;
        a.prefix_matched = s.argv_prefix_matched;
        if (s.attribution == "ambiguous")
            for (const auto& r : requests.requests_of_session(s.id)) a.candidates.push_back(r.id);
        storage::pg::put_attribution(c, a, s.start_ns);
    }
    storage::pg::assign_export_positions(c);
    storage::pg::backfill_ledger(c, nullptr);  // as the collector enters each new session in the ledger
    tx.commit();
}

// A tty session with a prompt, colours, UTF-8, a resize and a gap; a request that named it.
void write_sample(const std::string& path) {
    auto s = sample_session("5eed000000000001", kT0Ns, {"/bin/bash"});
    std::vector<storage::WriteOp> ops{storage::WriteSession{s}};
    ops.push_back(storage::WriteCommand{sample_command(s, 0, {"/bin/bash"})});
    ops.push_back(storage::WriteCommand{sample_command(s, 1, {"/bin/ls", "-l", "caf\xc3\xa9"})});
    ops.push_back(storage::WriteCommand{sample_command(s, 2, {"/bin/false"}, -13)});
    storage::ChunkRecord c0;
    c0.session_id = s.id;
    c0.seq = 0;
    storage::ChunkEncoder e;
    e.add_bytes(0, storage::FrameKind::output, "root@web:/# ");
    e.add_bytes(500'000, storage::FrameKind::input, "ls -l\r");
    e.add_bytes(600'000, storage::FrameKind::output, "ls -l\r\n\x1b[1;34mcaf\xc3\xa9\x1b[0m  total 0\r\n");
    e.add_resize(700'000, 30, 100);
    c0.first_offset_us = e.first_offset_us();
    c0.last_offset_us = e.last_offset_us();
    c0.frames = e.frames();
    c0.output_bytes = e.output_bytes();
    c0.input_bytes = e.input_bytes();
    c0.frames_data = e.take();
    ops.push_back(storage::WriteChunk{c0});
    storage::ChunkRecord c1;
    c1.session_id = s.id;
    c1.seq = 1;
    std::string big;
    for (int i = 0; i < 2000; ++i) big += "line " + std::to_string(i) + " of a long listing\r\n";  // compresses
    storage::ChunkEncoder e1;
    e1.add_bytes(1'000'000, storage::FrameKind::output, big);
    e1.add_gap(1'100'000, 3, 4096);
    e1.add_bytes(1'200'000, storage::FrameKind::output, "root@web:/# exit\r\n");
    c1.first_offset_us = e1.first_offset_us();
    c1.last_offset_us = e1.last_offset_us();
    c1.frames = e1.frames();
    c1.output_bytes = e1.output_bytes();
    c1.frames_data = e1.take();
    ops.push_back(storage::WriteChunk{c1});

    storage::ExecRequestRecord r;
    r.id = "audit-1/abc";
    r.audit_id = "audit-1";
    r.source = "audit";
    r.kind = "exec";
    r.verb = "create";
    r.namespace_name = "shop";
    r.pod = "web";
    r.container = "app";
    r.command = {"/bin/bash"};
    r.tty = r.stdin = true;
    r.requester.user = "alice@example.com";
    r.requester.groups_json = R"(["devs","system:authenticated"])";
    r.requester.source_ips_json = R"(["10.0.0.7"])";
    r.requester.user_agent = "kubectl/v1.30.0";
    r.response_code = 101;
    r.received_ns = kT0Ns - kSecondNs / 2;
    r.state = "matched";
    r.session_id = s.id;
    r.updated_ns = kT0Ns;
    ops.push_back(storage::WriteExecRequest{r});
    ops.push_back(storage::WriteAttribution{.session_id = s.id, .attribution = "audit", .request_id = r.id,
                                            .audit_id = r.audit_id, .requester = r.requester});
    s.status = "ended";
    s.end_ns = kT0Ns + 2 * kSecondNs;
    s.exit_code = 0;
    s.commands = 3;
    s.output_bytes = c0.output_bytes + c1.output_bytes;
    s.lost_bytes = 4096;
    s.lost_events = 3;
    ops.push_back(storage::WriteSession{s});
    // a second session, unattributed, still open
    auto s2 = sample_session("6eed000000000002", kT0Ns + 10 * kSecondNs, {"/bin/sh"});
    ops.push_back(storage::WriteSession{s2});
    ops.push_back(storage::WriteAttribution{.session_id = s2.id, .attribution = "unattributed"});
    write_ops(path, std::move(ops));
}

class ClusterStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        EA_REQUIRE(missing_postgres());
        pg_ = std::make_unique<PostgresServer>();
        sqlite_ = dir_.file("node.db");
        write_sample(sqlite_);
        copy_to_postgres(sqlite_, pg_->uri());
    }
    RunResult ea(std::vector<std::string> args, const std::string& db) {
        args.insert(args.begin(), execaudit_bin());
        args.push_back("--db");
        args.push_back(db);
        return run(args);
    }
    // The same command against both stores: same exit status, same output.
    void expect_same(const std::vector<std::string>& args) {
        auto node = ea(args, sqlite_);
        auto cluster = ea(args, pg_->uri());
        std::string what = args[0] + (args.size() > 1 ? " " + args[1] : "");
        EXPECT_EQ(node.exit_code, 0) << what << ": " << node.err;
        EXPECT_EQ(cluster.exit_code, node.exit_code) << what << ": " << cluster.err;
        EXPECT_EQ(cluster.out, node.out) << what;
        EXPECT_FALSE(node.out.empty()) << what;
    }

    TempDir dir_;
    std::unique_ptr<PostgresServer> pg_;
    std::string sqlite_;
};

TEST_F(ClusterStoreTest, EveryReadCommandPrintsTheSameFromPostgresql) {
    expect_same({"play", "5eed000000000001", "--cat"});
    expect_same({"play", "5eed0000", "--cat", "--start", "0.65"});  // a prefix; the screen mid-session
    expect_same({"show", "5eed000000000001", "--format", "json"});
    expect_same({"show", "5eed000000000001"});
    expect_same({"sessions", "--format", "json"});
    expect_same({"sessions"});
    expect_same({"sessions", "--format", "csv", "--command", "caf\xc3\xa9"});
    expect_same({"sessions", "--format", "json", "--unattributed"});
    expect_same({"sessions", "--format", "json", "--user", "alice@example.com", "--namespace", "shop", "--pod", "web"});
    expect_same({"audit-events", "--format", "json"});
    expect_same({"export", "--format", "asciicast", "--session", "5eed000000000001"});
    auto shown = nlohmann::json::parse(ea({"show", "5eed000000000001", "--format", "json"}, pg_->uri()).out);
    EXPECT_EQ(shown["user"], "alice@example.com");
    EXPECT_EQ(shown["timeline"].size(), 3u);
    EXPECT_EQ(shown["lost_bytes"], 4096);
}

TEST_F(ClusterStoreTest, ExportRecordsAreTheNodesInCommitOrder) {
    // positions are each store's own; everything else is the same record
    auto strip = [](const std::string& jsonl) {
        std::vector<nlohmann::json> out;
        size_t p = 0;
        for (size_t nl; (nl = jsonl.find('\n', p)) != std::string::npos; p = nl + 1) {
            auto j = nlohmann::json::parse(jsonl.substr(p, nl - p));
            j.erase("position");
            out.push_back(j);
        }
        return out;
    };
    auto node = ea({"export"}, sqlite_);
    auto cluster = ea({"export"}, pg_->uri());
    ASSERT_EQ(node.exit_code, 0) << node.err;
    ASSERT_EQ(cluster.exit_code, 0) << cluster.err;
    auto a = strip(node.out), b = strip(cluster.out);
    std::set<std::string> ids_a, ids_b;
    for (const auto& j : a) ids_a.insert(j["record_id"]);
    for (const auto& j : b) ids_b.insert(j["record_id"]);
    EXPECT_EQ(ids_a, ids_b);
    EXPECT_EQ(a.size(), b.size());
}

TEST_F(ClusterStoreTest, TheEnvironmentVariableNamesTheClusterStoreToo) {
    auto r = run({"env", "EXECAUDIT_DB=" + pg_->uri(), execaudit_bin(), "sessions", "--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out).size(), 2u);
}

TEST_F(ClusterStoreTest, CredentialsNeverAppearInErrorsOrHelp) {
    const std::string secret = "s3cr3t-Pa55";
    // a server that is not there, a database that is not there, a bad URI, a session that is not there
    std::vector<std::string> uris = {
        fmt::format("postgresql://execaudit:{}@127.0.0.1:1/postgres", secret),
        fmt::format("postgresql://execaudit:{}@127.0.0.1:{}/nosuchdb", secret, pg_->port()),
        fmt::format("postgresql://execaudit@127.0.0.1:{}/postgres?password={}&port=notaport", pg_->port(), secret),
        fmt::format("postgresql://execaudit:{}@127.0.0.1:{}/postgres", secret, pg_->port()),
    };
    for (const auto& uri : uris) {
        for (const auto& args : std::vector<std::vector<std::string>>{{"show", "ffffffff"}, {"sessions"}, {"play", "abcd", "--cat"}}) {
            auto r = ea(args, uri);
            EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
            EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
        }
    }
    auto refused = ea({"sessions"}, uris[0]);
    EXPECT_EQ(refused.exit_code, 1) << refused.err;  // a runtime failure: the server is down
    EXPECT_NE(refused.err.find("127.0.0.1"), std::string::npos) << refused.err;  // says where
    auto unknown = ea({"show", "ffffffff"}, uris[3]);
    EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
    for (const auto& cmd : {"sessions", "show", "play", "audit-events", "export"}) {
        auto help = run({"env", "EXECAUDIT_DB=" + uris[3], execaudit_bin(), cmd, "--help"});
        EXPECT_EQ(help.out.find(secret), std::string::npos) << cmd;
    }
}

TEST_F(ClusterStoreTest, ResentRecordsChangeNothing) {
    auto before = pg_->query("SELECT count(*) FROM sessions") + pg_->query("SELECT count(*) FROM commands") +
                  pg_->query("SELECT count(*) FROM io_chunks") + pg_->query("SELECT count(*) FROM export_outbox") +
                  pg_->query("SELECT string_agg(status || attribution || output_bytes, ',' ORDER BY id) FROM sessions");
    copy_to_postgres(sqlite_, pg_->uri());
    auto after = pg_->query("SELECT count(*) FROM sessions") + pg_->query("SELECT count(*) FROM commands") +
                 pg_->query("SELECT count(*) FROM io_chunks") + pg_->query("SELECT count(*) FROM export_outbox") +
                 pg_->query("SELECT string_agg(status || attribution || output_bytes, ',' ORDER BY id) FROM sessions");
    EXPECT_EQ(before, after);
    expect_same({"play", "5eed000000000001", "--cat"});
}

TEST_F(ClusterStoreTest, AnotherNodeCannotWriteASessionItDoesNotOwn) {
    auto c = storage::pg::Connection::open(pg_->uri());
    auto s = sample_session("5eed000000000001", kT0Ns, {"/bin/evil"});
    s.node = "node-2";
    s.status = "ended";
    EXPECT_EQ(storage::pg::put_session(c, s, kT0Ns), storage::pg::PutResult::foreign_node);
    auto cmd = sample_command(s, 7, {"/bin/evil"});
    EXPECT_EQ(storage::pg::put_command(c, "node-2", cmd, kT0Ns), storage::pg::PutResult::foreign_node);
    storage::StoredChunkRecord k;
    k.session_id = s.id;
    k.seq = 9;
    k.data = "x";
    EXPECT_EQ(storage::pg::put_chunk(c, "node-2", k), storage::pg::PutResult::foreign_node);
    EXPECT_EQ(pg_->query("SELECT node || command_text FROM sessions WHERE id = '5eed000000000001'"), "node-1/bin/bash\n");
    EXPECT_EQ(pg_->query("SELECT count(*) FROM commands WHERE session_id = '5eed000000000001'"), "3\n");
}

TEST_F(ClusterStoreTest, MigrationsAreVersionedAndIndexesServeEveryFilter) {
    EXPECT_EQ(pg_->query("SELECT max(version) FROM execaudit_schema"),
              std::to_string(storage::pg::current_schema_version()) + "\n");
    auto c = storage::pg::Connection::open(pg_->uri());
    storage::pg::migrate(c);  // a second replica starting: nothing to do
    auto idx = pg_->query("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'sessions'");
    for (const auto* name : {"sessions_start", "sessions_end", "sessions_user", "sessions_pod", "sessions_pod_name",
                             "sessions_container", "sessions_command_text", "sessions_unattributed"})
        EXPECT_NE(idx.find(name), std::string::npos) << name << " in " << idx;
    EXPECT_EQ(pg_->query("SELECT data_type FROM information_schema.columns WHERE table_name = 'io_chunks' AND "
                         "column_name = 'data'"),
              "bytea\n");
}

}  // namespace
}  // namespace execaudit::testing
