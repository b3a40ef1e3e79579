// The invariant where users meet it: after every step of seeded interleavings (and of a denied
// neighbour whose stages arrive in batches cut at every stage boundary), what the database
// stores, what `sessions --user` lists and what `export` sends never names the wrong user.
#include "attribution/attribution.h"
#include "storage/request_store.h"
#include "storage/schema.h"
#include "storage/session_store.h"
#include "tests/attribution/random_cases.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"

#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

using namespace execaudit;
using namespace execaudit::attribution;
using namespace execaudit::testing;

namespace {

constexpr uint64_t kStoredCases = 15;  // each step waits for a commit: the correlator-level test does the thousands

/// The correlator's inputs, through the real Attribution and the real writer into SQLite.
class StoredPlay {
public:
    explicit StoredPlay(const std::string& db_path, Correlator::Options options)
        : db_path_(db_path),
          writer_(storage::Database::open(db_path, storage::Database::Mode::read_write), {.commit_interval = std::chrono::milliseconds(0)}),
          attribution_(io_, options, writer_, [this] { return now_; }) {}

    void add_audit_event(const AuditEvent& e, int64_t at) {
        now_ = at;
        attribution_.ingest({e}, "webhook", std::nullopt, nullptr);
    }
    void add_session(const SessionFacts& f, int64_t at) {
        now_ = at;
        records_[f.id] = record_of(f);
        writer_.submit(storage::WriteSession{records_[f.id]});
        attribution_.session_started(records_[f.id]);
    }
    void end_session(const std::string& id, int64_t end, int64_t at) {
        now_ = at;
        auto& r = records_[id];
        r.end_ns = end;
        r.status = "ended";
        writer_.submit(storage::WriteSession{r});
        attribution_.session_ended(r);
    }
    void tick(int64_t t) {
        now_ = t;
        attribution_.tick();
    }

    /// Every stored and listed session that names a user, as the read side sees it now.
    std::vector<std::pair<std::string, std::string>> named() {
        writer_.flush();
        auto db = storage::Database::open(db_path_, storage::Database::Mode::read_only);
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto& s : storage::SessionStore(db).list({}))
            if (s.user) out.emplace_back(s.id, *s.user);
        return out;
    }
    std::vector<std::string> listed_for(const std::string& user) {
        auto db = storage::Database::open(db_path_, storage::Database::Mode::read_only);
        std::vector<std::string> out;
        for (const auto& s : storage::SessionStore(db).list({.user = user})) out.push_back(s.id);
        return out;
    }
    void stop() { writer_.stop(); }

private:
    static storage::SessionRecord record_of(const SessionFacts& f) {
        storage::SessionRecord r;
        r.id = f.id;
        r.node = "node-1";
        r.namespace_name = f.namespace_name;
        r.pod = f.pod;
        r.container = f.container;
        r.command = f.command;
        r.tty = f.tty;
        r.start_ns = f.start_ns;
        r.entered_via = "runc";
        return r;
    }

    std::string db_path_;
    boost::asio::io_context io_;
    storage::StoreWriter writer_;
    int64_t now_ = 0;
    Attribution attribution_;
    std::map<std::string, storage::SessionRecord> records_;
};

std::string create_db(const TempDir& dir, const std::string& name) {
    std::string path = dir.file(name);
    auto db = storage::Database::open(path, storage::Database::Mode::read_write);
    return path;
}

TEST(AttributionStore, StoredListedAndExportedVerdictsNeverNameTheWrongUser) {
    TempDir dir;
    size_t steps = 0, named_rows = 0;
    for (uint64_t seed = 1; seed <= kStoredCases; ++seed) {
        std::string path = create_db(dir, fmt::format("seed-{}.db", seed));
        RandomCase c(seed * 7919);
        StoredPlay play(path, c.options());
        std::string failure;
        c.play(play, [&] {
            ++steps;
            for (const auto& [id, user] : play.named()) {
                ++named_rows;
                auto truth = c.truth.find(id);
                if (failure.empty() && (truth == c.truth.end() || truth->second != user))
                    failure = fmt::format("{} stored as {}'s", id, user);
            }
        });
        for (const auto& [id, user] : c.truth)
            for (const auto& listed : play.listed_for(user)) EXPECT_EQ(c.truth[listed], user) << "seed " << seed;
        play.stop();
        ASSERT_TRUE(failure.empty()) << "seed " << seed * 7919 << ": " << failure << "\n" << c.describe();
        // what the SIEM gets: every exported record's user is the session's true one
        auto exported = run({execaudit_bin(), "export", "--format", "jsonl", "--db", path});
        ASSERT_EQ(exported.exit_code, 0) << exported.err;
        std::istringstream lines(exported.out);
        for (std::string line; std::getline(lines, line);) {
            auto r = nlohmann::json::parse(line);
            if (!r["session"].contains("user") || !r["session"]["user"].is_string()) continue;
            auto user = r["session"]["user"].get<std::string>();
            EXPECT_EQ(c.truth[r["session_id"].get<std::string>()], user) << "seed " << seed << ": " << line;
        }
    }
    std::cout << "[ stored ] " << kStoredCases << " interleavings, " << steps << " steps checked in SQLite, " << named_rows << " named rows seen\n";
}

// Mallory's exec is refused (403) while alice's legitimate twin runs. The webhook delivers the
// stages in batches, cut at every stage boundary, in the worst order: at every step the stored
// and listed verdicts must not name mallory.
TEST(AttributionStore, ADeniedNeighbourIsNeverStoredListedOrExported) {
    constexpr int64_t kS = 1'000'000'000, kMs = 1'000'000, kT0 = 1'730'204'504'000'000'000;
    auto stage = [&](const std::string& id, const std::string& user, const std::string& name, int64_t at, int code) {
        AuditEvent e;
        e.audit_id = id;
        e.stage = name;
        e.verb = "create";
        e.target = {"exec", "shop", "web", "app", {"/bin/sh"}, true, true};
        e.identity.user = user;
        if (code) e.identity.decision = code == 403 ? "forbid" : "allow";
        e.response_code = code;
        e.received_ns = id == "rm" ? kT0 : kT0 + 100 * kMs;
        e.stage_ns = at;
        e.request_uri = "/api/v1/namespaces/shop/pods/web/exec?command=%2Fbin%2Fsh&tty=true";
        return e;
    };
    std::vector<AuditEvent> stages = {
        stage("rm", "mallory", "RequestReceived", kT0, 0),       stage("ra", "alice", "RequestReceived", kT0 + 100 * kMs, 0),
        stage("ra", "alice", "ResponseStarted", kT0 + 150 * kMs, 101), stage("rm", "mallory", "ResponseComplete", kT0 + 5 * kS, 403),
        stage("ra", "alice", "ResponseComplete", kT0 + 12 * kS, 101),
    };
    TempDir dir;
    // every cut of the stages into batches (2^4), each delivered in its order or reversed
    for (unsigned cuts = 0; cuts < 16; ++cuts) {
        for (bool reversed : {false, true}) {
            std::string path = create_db(dir, fmt::format("cut-{}-{}.db", cuts, reversed));
            StoredPlay play(path, Correlator::Options{});
            std::vector<std::vector<AuditEvent>> batches(1);
            for (size_t i = 0; i < stages.size(); ++i) {
                batches.back().push_back(stages[i]);
                if (i + 1 < stages.size() && (cuts >> i & 1)) batches.emplace_back();
            }
            if (reversed) std::reverse(batches.begin(), batches.end());
            SessionFacts alice{.id = "alice-session", .namespace_name = "shop", .pod = "web", .container = "app",
                               .command = {"/bin/sh"}, .tty = true, .start_ns = kT0 + 300 * kMs};
            play.add_session(alice, kT0 + 300 * kMs);
            int64_t t = kT0 + kS;
            auto check = [&] {
                for (const auto& [id, user] : play.named()) ASSERT_EQ(user, "alice") << "cuts " << cuts << " reversed " << reversed;
                ASSERT_TRUE(play.listed_for("mallory").empty());
            };
            for (const auto& b : batches) {
                for (const auto& e : b) play.add_audit_event(e, t);
                check();
                for (int i = 0; i < 5; ++i, t += kS) {
                    play.tick(t);
                    check();
                }
            }
            play.end_session("alice-session", kT0 + 12 * kS, t);
            for (int i = 0; i < 200; ++i, t += kS) {
                play.tick(t);
                if (i % 20 == 0) check();
            }
            check();
            EXPECT_EQ(play.listed_for("alice"), std::vector<std::string>{"alice-session"}) << "cuts " << cuts;
            play.stop();
            auto exported = run({execaudit_bin(), "export", "--format", "jsonl", "--db", path});
            EXPECT_EQ(exported.out.find("mallory"), std::string::npos) << exported.out;
        }
    }
}

}  // namespace
