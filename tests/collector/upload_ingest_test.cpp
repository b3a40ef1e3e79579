// The collector's side of an upload, against a real PostgreSQL: a batch is stored once however
// often it arrives, and whatever a node claims beyond its own certificate is refused whole and
// counted: another node's name, another node's session, a session it never started, a replay.
// The HTTP edge (who may connect, malformed and oversized bodies) runs the real `execaudit collect`.
#include "collector/upload_ingest.h"
#include "storage/postgres/pg_schema.h"
#include "storage/postgres/pg_store.h"
#include "storage/postgres/pg_writer.h"
#include "storage/chain_verify.h"
#include "storage/session_chain.h"
#include "storage/upload_records.h"
#include "tests/support/audit_fixtures.h"
#include "tests/support/cluster.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/stored_sessions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace execaudit::testing {
namespace {
namespace v1 = upload::v1;
using collector::ingest_batch;
using collector::Refusal;

constexpr const char* kSpool = "00112233445566778899aabbccddeeff";

v1::UploadRecord at(uint64_t position, v1::UploadRecord r) {
    r.set_position(position);
    return r;
}
v1::UploadRecord session(const std::string& id, const std::string& node, const std::string& status = "open") {
    auto s = sample_session(id, kT0Ns);
    s.node = node;
    s.status = status;
    if (status != "open") s.end_ns = kT0Ns + 5 * kSecondNs;
    v1::UploadRecord r;
    *r.mutable_session() = storage::to_upload(s);
    return r;
}
v1::UploadRecord command(const std::string& id, uint32_t seq, std::vector<std::string> argv) {
    auto s = sample_session(id, kT0Ns);
    v1::UploadRecord r;
    *r.mutable_command() = storage::to_upload(sample_command(s, seq, std::move(argv)));
    return r;
}
v1::UploadRecord chunk(const std::string& id, uint32_t seq, const std::string& text) {
    v1::UploadRecord r;
    *r.mutable_chunk() = storage::to_upload(sample_chunk(id, seq, text));
    return r;
}
upload::Batch batch(const std::string& node, std::vector<v1::UploadRecord> records, const std::string& spool = kSpool) {
    return sample_batch(node, spool, std::move(records));
}

// A node's ended session with its hash chain, as its recorder uploads it: the session (its end and
// head), then `argvs` as commands 0.. . Positions from `first`.
struct ChainedSession {
    std::vector<v1::UploadRecord> records;
    std::vector<storage::CommandRecord> commands;
    std::string head;
};
ChainedSession chained_session(const std::string& id, const std::vector<std::vector<std::string>>& argvs, uint64_t first) {
    auto s = sample_session(id, kT0Ns);
    s.node = "node-a";
    s.status = "ended";
    s.end_ns = kT0Ns + 5 * kSecondNs;
    s.commands = static_cast<uint32_t>(argvs.size());
    auto h = storage::chain_start(s);
    s.chain_start = storage::to_bytes(h);
    ChainedSession out;
    for (uint32_t i = 0; i < argvs.size(); ++i) {
        auto c = sample_command(s, i, argvs[i]);
        c.chain_index = i + 1;
        h = storage::chain_command(h, c);
        c.chain_hash = storage::to_bytes(h);
        v1::UploadRecord r;
        *r.mutable_command() = storage::to_upload(c);
        out.records.push_back(at(first + 1 + i, r));
        out.commands.push_back(c);
    }
    s.chain_records = argvs.size();
    s.chain_head = out.head = storage::to_bytes(storage::chain_head(h, s, argvs.size()));
    v1::UploadRecord r;
    *r.mutable_session() = storage::to_upload(s);
    out.records.insert(out.records.begin(), at(first, r));
    return out;
}

class UploadIngest : public ::testing::Test {
protected:
    void SetUp() override {
        EA_REQUIRE(missing_postgres());
        pg_ = std::make_unique<PostgresServer>();
        c_.emplace(storage::pg::Connection::open(pg_->uri()));
        storage::pg::migrate(*c_);
    }
    collector::IngestResult ingest(const std::string& node, const upload::Batch& b) {
        return ingest_batch(*c_, node, b, now_ns());
    }
    std::string q(const std::string& sql) { return pg_->query(sql); }

    std::unique_ptr<PostgresServer> pg_;
    std::optional<storage::pg::Connection> c_;
};

TEST_F(UploadIngest, ABatchIsStoredOnceHoweverOftenItArrives) {
    auto b = batch("node-a", {at(1, session("aaaa000000000001", "node-a")), at(2, command("aaaa000000000001", 0, {"/bin/ls"})),
                              at(3, chunk("aaaa000000000001", 0, "hello\r\n"))});
    auto first = ingest("node-a", b);
    ASSERT_EQ(first.status, 200) << first.message;
    EXPECT_EQ(first.stored, 3u);
    EXPECT_EQ(first.acked_position, 3);
    // the acknowledgement was lost: the node sends the same batch again
    auto again = ingest("node-a", b);
    ASSERT_EQ(again.status, 200) << again.message;
    EXPECT_EQ(again.stored, 0u);
    EXPECT_EQ(again.replayed, 3u);
    EXPECT_EQ(q("SELECT node, status FROM sessions"), "node-a|open\n");
    EXPECT_EQ(q("SELECT count(*) FROM commands"), "1\n");
    EXPECT_EQ(q("SELECT count(*) FROM io_chunks"), "1\n");
    EXPECT_EQ(q("SELECT acked_position FROM upload_streams WHERE node = 'node-a'"), "3\n");
}

TEST_F(UploadIngest, AReplayedOldBatchChangesNothing) {
    auto old = batch("node-a", {at(1, session("aaaa000000000001", "node-a")), at(2, command("aaaa000000000001", 0, {"/bin/ls"}))});
    ASSERT_EQ(ingest("node-a", old).status, 200);
    auto newer = batch("node-a", {at(3, command("aaaa000000000001", 0, {"/bin/cat", "/etc/shadow"})),
                                  at(4, session("aaaa000000000001", "node-a", "ended"))});
    ASSERT_EQ(ingest("node-a", newer).status, 200);
    auto replay = ingest("node-a", old);
    EXPECT_EQ(replay.status, 200) << replay.message;  // acknowledged (a resend is normal), but applied not at all
    EXPECT_EQ(replay.stored, 0u);
    EXPECT_EQ(replay.replayed, 2u);
    EXPECT_EQ(q("SELECT argv_text FROM commands"), "/bin/cat /etc/shadow\n");
    EXPECT_EQ(q("SELECT status FROM sessions"), "ended\n");
    // a node whose disk was replaced starts a new spool: its positions start again, and count
    auto fresh = ingest("node-a", batch("node-a", {at(1, session("aaaa000000000002", "node-a"))}, "ffff0000ffff0000"));
    EXPECT_EQ(fresh.stored, 1u);
}

TEST_F(UploadIngest, ABatchThatClaimsAnotherNodeIsRefusedWhole) {
    auto header_lies = ingest("node-a", batch("node-b", {at(1, session("bbbb000000000001", "node-b"))}));
    EXPECT_EQ(header_lies.status, 403);
    EXPECT_EQ(header_lies.refusal, Refusal::node_mismatch);
    // the header tells the truth, one session does not
    auto record_lies = ingest("node-a", batch("node-a", {at(1, session("aaaa000000000001", "node-a")),
                                                         at(2, session("bbbb000000000001", "node-b"))}));
    EXPECT_EQ(record_lies.status, 403);
    EXPECT_EQ(record_lies.refusal, Refusal::node_mismatch);
    EXPECT_NE(record_lies.message.find("bbbb000000000001"), std::string::npos) << record_lies.message;
    EXPECT_EQ(q("SELECT count(*) FROM sessions"), "0\n");  // nothing of either batch
}

TEST_F(UploadIngest, ANodeCannotTouchAnotherNodesSession) {
    ASSERT_EQ(ingest("node-a", batch("node-a", {at(1, session("aaaa000000000001", "node-a")),
                                                at(2, command("aaaa000000000001", 0, {"/bin/bash"}))}))
                  .status,
              200);
    // node-b knows the id (from a SIEM, say) and tries to take the session over, end it, or add to it
    auto takeover = ingest("node-b", batch("node-b", {at(1, session("aaaa000000000001", "node-b", "ended"))}));
    EXPECT_EQ(takeover.status, 403);
    EXPECT_EQ(takeover.refusal, Refusal::foreign_session);
    auto add = ingest("node-b", batch("node-b", {at(2, command("aaaa000000000001", 0, {"/bin/true"})),
                                                 at(3, chunk("aaaa000000000001", 0, "forged output"))}));
    EXPECT_EQ(add.status, 403);
    EXPECT_EQ(add.refusal, Refusal::foreign_session);
    EXPECT_EQ(q("SELECT node, status FROM sessions"), "node-a|open\n");
    EXPECT_EQ(q("SELECT argv_text FROM commands"), "/bin/bash\n");
    EXPECT_EQ(q("SELECT count(*) FROM io_chunks"), "0\n");
    EXPECT_EQ(q("SELECT count(*) FROM upload_streams WHERE node = 'node-b' AND acked_position > 0"), "0\n");
}

TEST_F(UploadIngest, RecordsOfASessionTheStoreDoesNotHoldAreRefused) {
    auto r = ingest("node-a", batch("node-a", {at(1, command("cccc000000000001", 0, {"/bin/ls"}))}));
    EXPECT_EQ(r.status, 409);  // the node sends the session's start again
    EXPECT_EQ(r.refusal, Refusal::unknown_session);
}

TEST_F(UploadIngest, MalformedRecordsAreRefusedWithTheReason) {
    auto bad_id = session("aaaa000000000001", "node-a");
    bad_id.mutable_session()->set_id("'; DROP TABLE sessions; --");
    auto r = ingest("node-a", batch("node-a", {at(1, bad_id)}));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.refusal, Refusal::malformed);
    auto no_spool = ingest("node-a", batch("node-a", {at(1, session("aaaa000000000001", "node-a"))}, ""));
    EXPECT_EQ(no_spool.status, 400);
    EXPECT_EQ(q("SELECT count(*) FROM sessions"), "0\n");
}

v1::UploadRecord judged(const std::string& id, const std::string& node, bool kubelet, const std::string& reason = "") {
    auto r = session(id, node, "ended");
    r.mutable_session()->set_tty(false);
    auto* k = r.mutable_session()->mutable_kubelet();
    k->set_kubelet(kubelet);
    if (kubelet) {
        k->set_entered_via("probe");
        k->set_name("liveness");
    }
    k->set_reason(reason);
    return r;
}

// A node's kubelet judgement (issue 17) is a claim about its own session only, made once, at its
// end: another node cannot make a session the kubelet's, a node cannot change its mind after the
// leader may have decided by it, and the node's own verdicts (entered via probe) are not entries.
TEST_F(UploadIngest, AKubeletJudgementIsTheOwningNodesOnceAndNeverAnEntry) {
    ASSERT_EQ(ingest("node-a", batch("node-a", {at(1, session("aaaa000000000001", "node-a"))})).status, 200);
    auto takeover = ingest("node-b", batch("node-b", {at(1, judged("aaaa000000000001", "node-b", true))}));
    EXPECT_EQ(takeover.status, 403);
    EXPECT_EQ(takeover.refusal, Refusal::foreign_session);
    EXPECT_EQ(q("SELECT status, kubelet_check IS NULL FROM sessions"), "open|t\n");

    const std::string why = "the argv of the liveness probe on a tty: the kubelet runs it without one";
    ASSERT_EQ(ingest("node-a", batch("node-a", {at(2, judged("aaaa000000000001", "node-a", false, why))})).status, 200);
    // said again, otherwise: stored as first said
    ASSERT_EQ(ingest("node-a", batch("node-a", {at(3, judged("aaaa000000000001", "node-a", true))})).status, 200);
    storage::pg::PgSessionStore store(*c_);
    auto s = store.find("aaaa000000000001");
    ASSERT_TRUE(s && s->kubelet);
    EXPECT_FALSE(s->kubelet->kubelet);
    EXPECT_EQ(s->kubelet->reason, why);

    // a session first uploaded after its node's own correlator called it a probe run (the collector
    // was away): an exec whose verdict is the leader's
    auto late = judged("aaaa000000000002", "node-a", true);
    late.mutable_session()->set_entered_via("probe");
    ASSERT_EQ(ingest("node-a", batch("node-a", {at(4, late)})).status, 200);
    EXPECT_EQ(q("SELECT entered_via, attribution FROM sessions WHERE id = 'aaaa000000000002'"), "runc|pending\n");
    auto back = store.find("aaaa000000000002");
    ASSERT_TRUE(back && back->kubelet);
    EXPECT_TRUE(back->kubelet->kubelet);
    EXPECT_EQ(back->kubelet->entered_via, "probe");
}

TEST_F(UploadIngest, AKubeletJudgementThatCannotBeIsRefusedWithTheReason) {
    auto how = judged("aaaa000000000001", "node-a", true);
    how.mutable_session()->mutable_kubelet()->set_entered_via("admin");
    auto on_tty = judged("aaaa000000000001", "node-a", true);
    on_tty.mutable_session()->set_tty(true);
    auto open = judged("aaaa000000000001", "node-a", false, "pod spec unknown");
    open.mutable_session()->set_status("open");
    open.mutable_session()->clear_end_ns();
    for (const auto& [record, reason] : {std::pair{how, "entered via 'admin'"}, std::pair{on_tty, "on a tty"},
                                         std::pair{open, "judged while open"}}) {
        auto r = ingest("node-a", batch("node-a", {at(1, record)}));
        EXPECT_EQ(r.status, 400) << reason;
        EXPECT_NE(r.message.find(reason), std::string::npos) << r.message;
    }
    EXPECT_EQ(q("SELECT count(*) FROM sessions"), "0\n");
}

// The Decisions' export cursor on PostgreSQL: ids are insertion order, not commit order, when
// replicas insert concurrently; positions are given to committed rows only, by the exporter.
TEST_F(UploadIngest, ExportPositionsFollowCommitOrderWithConcurrentWriters) {
    auto other = storage::pg::Connection::open(pg_->uri());
    storage::pg::PgOutbox outbox(*c_);
    // replica 1 inserts first and commits last
    storage::pg::Transaction slow(other);
    auto a = sample_session("aaaa000000000001", kT0Ns);
    a.node = "node-a";
    ASSERT_EQ(storage::pg::put_session(other, a, now_ns()), storage::pg::PutResult::stored);
    {
        storage::pg::Transaction fast(*c_);
        auto b = sample_session("bbbb000000000002", kT0Ns);
        b.node = "node-b";
        ASSERT_EQ(storage::pg::put_session(*c_, b, now_ns()), storage::pg::PutResult::stored);
        fast.commit();
    }
    EXPECT_EQ(storage::pg::assign_export_positions(*c_), 1);
    auto first = outbox.after(0, 100);
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(first[0].session_id, "bbbb000000000002");
    int64_t cursor = first[0].position;
    slow.commit();
    EXPECT_EQ(storage::pg::assign_export_positions(*c_), 1);
    auto next = outbox.after(cursor, 100);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].session_id, "aaaa000000000001");  // not skipped, although its id is the smaller one
    EXPECT_EQ(q("SELECT session_id FROM export_outbox ORDER BY id LIMIT 1"), "aaaa000000000001\n");
}

// What left the node and verified is sealed: a node's root that rewrites an ended session (a
// command it would rather not have run) and sends it again, chain recomputed, changes nothing in
// the cluster store, and is named.
TEST_F(UploadIngest, ASealedSessionKeepsWhatVerifiedWhateverItsNodeSendsLater) {
    const std::string id = "aaaa000000000001";
    auto original = chained_session(id, {{"/bin/ls"}, {"/usr/bin/curl", "http://evil.example/x"}}, 1);
    ASSERT_EQ(ingest("node-a", batch("node-a", original.records)).status, 200);
    auto chains = collector::check_chains(*c_, batch("node-a", original.records), now_ns());
    ASSERT_EQ(chains.intact, std::vector<std::string>{id}) << (chains.failed.empty() ? "" : chains.failed[0].second);
    EXPECT_EQ(chains.sealed, 1u);
    EXPECT_EQ(q("SELECT sealed_ns IS NOT NULL, collector_key FROM sessions"), "t|\n");

    auto rewritten = chained_session(id, {{"/bin/ls"}, {"/usr/bin/id"}}, 10);
    ASSERT_NE(rewritten.head, original.head);
    auto again = ingest("node-a", batch("node-a", rewritten.records));
    ASSERT_EQ(again.status, 200) << again.message;  // acknowledged: the node's spool moves on
    EXPECT_EQ(again.stored, 0u);
    EXPECT_EQ(again.sealed_resent, 3u);
    ASSERT_EQ(again.sealed_rewrites.size(), 2u);  // the head and command 1; command 0 is the same
    EXPECT_EQ(again.sealed_rewrites[0].first, id);
    EXPECT_EQ(q("SELECT argv_text FROM commands WHERE seq = 1"), "/usr/bin/curl http://evil.example/x\n");
    EXPECT_EQ(q("SELECT chain_head = '\\x" + storage::to_hex(original.head) + "'::bytea FROM sessions"), "t\n");
    storage::pg::PgSessionStore store(*c_);
    auto stored = store.find(id);
    ASSERT_TRUE(stored);
    EXPECT_EQ(storage::verify_session(store, *stored, nullptr).verdict, storage::Integrity::intact);
    // a sealed session is not checked again on arrival, so the rewrite is no second chain finding
    EXPECT_EQ(collector::check_chains(*c_, batch("node-a", rewritten.records), now_ns()).sealed, 0u);
    // an exact resend is no finding
    auto resend = ingest("node-a", batch("node-a", original.records, "ffeeddccbbaa99887766554433221100"));
    EXPECT_EQ(resend.sealed_resent, 3u);
    EXPECT_TRUE(resend.sealed_rewrites.empty());
}

// With `collect --signing-key` the seal is countersigned: whoever can write the cluster store
// (a database administrator) and rewrites a session with a consistent chain is caught by
// `verify --public-key` with the collector's key, though the chain alone still matches.
TEST_F(UploadIngest, TheCollectorsCountersignatureCatchesARewriteInTheClusterStore) {
    TempDir dir;
    auto key = dir.file("collector.pem"), pub = dir.file("collector.pub");
    ASSERT_EQ(run({"openssl", "genpkey", "-algorithm", "ed25519", "-out", key}).exit_code, 0);
    ASSERT_EQ(run({"openssl", "pkey", "-in", key, "-pubout", "-out", pub}).exit_code, 0);
    auto signer = storage::HeadSigner::from_pem_file(key);
    auto verifier = storage::HeadVerifier::from_pem_file(pub);

    const std::string id = "aaaa000000000001";
    auto original = chained_session(id, {{"/bin/ls"}, {"/usr/bin/curl", "http://evil.example/x"}}, 1);
    ASSERT_EQ(ingest("node-a", batch("node-a", original.records)).status, 200);
    ASSERT_EQ(collector::check_chains(*c_, batch("node-a", original.records), now_ns(), &signer).sealed, 1u);
    EXPECT_EQ(q("SELECT collector_key FROM sessions"), signer.key_id() + "\n");
    storage::pg::PgSessionStore store(*c_);
    auto v = storage::verify_session(store, *store.find(id), &verifier);
    EXPECT_EQ(v.verdict, storage::Integrity::intact) << v.detail;
    EXPECT_NE(v.detail.find("countersigned by the collector's key " + signer.key_id()), std::string::npos) << v.detail;

    // the rewrite, chain and head recomputed, written with the collector's own writer by someone
    // who can write the store: the seal lifted for it and put back as it was
    auto rewritten = chained_session(id, {{"/bin/ls"}, {"/usr/bin/id"}}, 10);
    auto sealed_ns = q("SELECT sealed_ns FROM sessions");
    sealed_ns.pop_back();
    c_->exec("UPDATE sessions SET sealed_ns = NULL");
    auto session = storage::from_upload(rewritten.records[0].session());
    session.node = "node-a";
    ASSERT_EQ(storage::pg::put_session(*c_, session, now_ns()), storage::pg::PutResult::stored);
    ASSERT_EQ(storage::pg::put_command(*c_, "node-a", rewritten.commands[1], now_ns()), storage::pg::PutResult::stored);
    c_->exec("UPDATE sessions SET sealed_ns = " + sealed_ns);
    EXPECT_EQ(q("SELECT argv_text FROM commands WHERE seq = 1"), "/usr/bin/id\n");
    auto unkeyed = storage::verify_session(store, *store.find(id), nullptr);
    EXPECT_EQ(unkeyed.verdict, storage::Integrity::intact) << "the chain alone cannot tell: " << unkeyed.detail;
    auto keyed = storage::verify_session(store, *store.find(id), &verifier);
    EXPECT_EQ(keyed.verdict, storage::Integrity::bad_signature) << keyed.detail;
    EXPECT_NE(keyed.detail.find("countersignature"), std::string::npos) << keyed.detail;
}

// The HTTP edge, through the real binary.
class CollectorEdge : public ::testing::Test {
protected:
    void SetUp() override {
        EA_REQUIRE(missing_postgres());
        EA_REQUIRE(missing_program("curl"));
        pg_ = std::make_unique<PostgresServer>();
        pki_ = std::make_unique<ClusterPki>(dir_.path());
        node_a_ = pki_->issue_node("/CN=node-a", "node-a");
        collector_ = std::make_unique<Collector>(pg_->uri(), *pki_, dir_.file("collect.log"));
    }
    CurlResult post(const std::string& body, const std::string& cert) {
        return curl_post(collector_->url() + "/v1/upload", body, dir_.path(), curl_tls(*pki_, cert));
    }
    std::string body_of(const upload::Batch& b) { return upload::encode_batch(b.header, b.records); }

    TempDir dir_;
    std::unique_ptr<PostgresServer> pg_;
    std::unique_ptr<ClusterPki> pki_;
    std::string node_a_;
    std::unique_ptr<Collector> collector_;
};

TEST_F(CollectorEdge, OnlyNodeCertificatesUploadAndTheNodeIsItsCertificate) {
    auto good = batch("node-a", {at(1, session("aaaa000000000001", "node-a"))});
    auto ok = post(body_of(good), node_a_);
    EXPECT_EQ(ok.status, 200) << ok.body << collector_->log();
    // the API server's certificate (the webhooks' trust list) cannot upload: the handshake fails
    auto webhook = post(body_of(good), pki_->apiserver_cert);
    EXPECT_EQ(webhook.status, 0) << webhook.body;
    // no certificate at all
    auto anonymous = curl_post(collector_->url() + "/v1/upload", body_of(good), dir_.path(), {"--cacert", pki_->ca});
    EXPECT_EQ(anonymous.status, 0) << anonymous.body;
    // a node certificate with two names, or a name that is not a node's
    auto two = post(body_of(good), pki_->issue_node("/CN=node-a/CN=node-b", "two-names"));
    EXPECT_EQ(two.status, 403) << two.body;
    auto odd = post(body_of(batch("Node_A", {})), pki_->issue_node("/CN=Node_A", "odd-name"));
    EXPECT_EQ(odd.status, 403) << odd.body;
    // node-b's certificate posting node-a's batch
    auto other = post(body_of(good), pki_->issue_node("/CN=node-b", "node-b"));
    EXPECT_EQ(other.status, 403) << other.body;
    EXPECT_NE(other.body.find("node-a"), std::string::npos) << other.body;
    EXPECT_EQ(pg_->query("SELECT node FROM sessions"), "node-a\n");
    EXPECT_GE(collector_->metric("collector_upload_rejected_total{reason=\"node_mismatch\"}"), 3);
    EXPECT_EQ(collector_->metric("collector_upload_batches_total"), 1);
}

TEST_F(CollectorEdge, AnEndedSessionThatDoesNotMatchItsNodesChainIsAFinding) {
    // a node that rewrote what it recorded but kept the old chain head: stored, and named
    auto s = session("aaaa000000000001", "node-a", "ended");
    s.mutable_session()->set_chain_start(std::string(32, '\x11'));
    s.mutable_session()->set_chain_head(std::string(32, '\x22'));
    s.mutable_session()->set_chain_records(0);
    auto r = post(body_of(batch("node-a", {at(1, s)})), node_a_);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(collector_->metric("collector_chain_failures_total"), 1);
    EXPECT_EQ(collector_->metric("collector_chains_verified_total"), 0);
    EXPECT_NE(collector_->log().find("FINDING: session aaaa000000000001 from node node-a does not verify"), std::string::npos)
        << collector_->log();
}

// `collect --signing-key` through the binary: a session that arrives intact is sealed and
// countersigned, `verify --public-key` with the collector's key passes on the cluster store, a
// rewrite its node sends afterwards is a logged, counted finding that changes nothing.
TEST_F(CollectorEdge, ASessionIsSealedAndCountersignedAndARewriteSentLaterIsAFinding) {
    auto key = dir_.file("collector.pem"), pub = dir_.file("collector.pub");
    ASSERT_EQ(run({"openssl", "genpkey", "-algorithm", "ed25519", "-out", key}).exit_code, 0);
    ASSERT_EQ(run({"openssl", "pkey", "-in", key, "-pubout", "-out", pub}).exit_code, 0);
    collector_.reset();
    collector_ = std::make_unique<Collector>(pg_->uri(), *pki_, dir_.file("signing.log"),
                                             std::vector<std::string>{"--signing-key", key});
    const std::string id = "aaaa000000000001";
    auto original = chained_session(id, {{"/bin/ls"}, {"/usr/bin/curl", "http://evil.example/x"}}, 1);
    ASSERT_EQ(post(body_of(batch("node-a", original.records)), node_a_).status, 200);
    EXPECT_EQ(collector_->metric("collector_sessions_sealed_total"), 1) << collector_->log();
    auto verify = run({execaudit_bin(), "verify", "--db", pg_->uri(), "--public-key", pub});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    EXPECT_NE(verify.out.find("countersigned by the collector's key"), std::string::npos) << verify.out;

    auto rewritten = chained_session(id, {{"/bin/ls"}, {"/usr/bin/id"}}, 10);
    ASSERT_EQ(post(body_of(batch("node-a", rewritten.records)), node_a_).status, 200);
    EXPECT_EQ(collector_->metric("collector_sealed_rewrites_total"), 1);
    EXPECT_EQ(collector_->metric("collector_chain_failures_total"), 0);
    EXPECT_NE(collector_->log().find("FINDING: node node-a sent session " + id + " again, changed after the collector sealed it"),
              std::string::npos)
        << collector_->log();
    EXPECT_EQ(pg_->query("SELECT argv_text FROM commands WHERE seq = 1"), "/usr/bin/curl http://evil.example/x\n");
    // a key that is not the collector's vouches for nothing
    auto other = dir_.file("other.pem");
    ASSERT_EQ(run({"openssl", "genpkey", "-algorithm", "ed25519", "-out", other}).exit_code, 0);
    auto wrong = run({execaudit_bin(), "verify", "--db", pg_->uri(), "--public-key", other});
    EXPECT_EQ(wrong.exit_code, 1) << wrong.out << wrong.err;
    EXPECT_NE(wrong.err.find("RE-SIGNED"), std::string::npos) << wrong.err;
    // both keys: the collector's vouches
    EXPECT_EQ(run({execaudit_bin(), "verify", "--db", pg_->uri(), "--public-key", other, "--public-key", pub, id}).exit_code, 0);
}

TEST_F(CollectorEdge, MalformedAndOversizedBodiesGetTheirStatusAndReason) {
    auto garbage = post("\x05hello world", node_a_);
    EXPECT_EQ(garbage.status, 400);
    EXPECT_NE(garbage.body.find("malformed batch"), std::string::npos) << garbage.body;
    auto huge = post(std::string(17u << 20, 'x'), node_a_);
    EXPECT_EQ(huge.status, 413) << huge.body;
    EXPECT_GE(collector_->metric("collector_upload_rejected_total{reason=\"malformed\"}"), 1);
    // and it still serves
    EXPECT_EQ(post(body_of(batch("node-a", {at(1, session("aaaa000000000001", "node-a"))})), node_a_).status, 200);
}

// docs/cluster.md's two roles, exactly as written there: the collector writes with its own role
// (it creates and owns the tables), the read commands read with the reader's, which cannot write.
TEST(ClusterRoles, TheCollectorWritesWithItsRoleAndTheReaderOnlyReads) {
    EA_REQUIRE(missing_postgres());
    EA_REQUIRE(missing_program("curl"));
    TempDir dir;
    PostgresServer pg;
    auto psql = [&](const std::string& user, const std::string& db, const std::string& sql) {
        return run({"runuser", "-u", "nobody", "--", "/usr/lib/postgresql/15/bin/psql", "-X", "-q", "-At", "-h", "127.0.0.1",
                    "-p", std::to_string(pg.port()), "-U", user, "-d", db, "-v", "ON_ERROR_STOP=1", "-c", sql});
    };
    // as an administrator, once (docs/cluster.md, "The database")
    for (const char* sql : {"CREATE ROLE execaudit_collector LOGIN", "CREATE ROLE execaudit_reader LOGIN",
                            "CREATE DATABASE execaudit OWNER execaudit_collector"})
        ASSERT_EQ(psql("execaudit", "postgres", sql).exit_code, 0) << sql;
    for (const char* sql : {"CREATE EXTENSION IF NOT EXISTS pg_trgm", "GRANT CONNECT ON DATABASE execaudit TO execaudit_reader",
                            "GRANT USAGE ON SCHEMA public TO execaudit_reader",
                            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO execaudit_reader",
                            "ALTER DEFAULT PRIVILEGES FOR ROLE execaudit_collector IN SCHEMA public GRANT SELECT ON TABLES TO "
                            "execaudit_reader"}) {
        auto r = psql("execaudit", "execaudit", sql);
        ASSERT_EQ(r.exit_code, 0) << sql << ": " << r.err;
    }
    std::string base = "postgresql://{}@127.0.0.1:" + std::to_string(pg.port()) + "/execaudit";
    std::string writer = fmt::format(fmt::runtime(base), "execaudit_collector"), reader = fmt::format(fmt::runtime(base), "execaudit_reader");
    ClusterPki pki(dir.path());
    auto node = pki.issue_node("/CN=node-a", "node-a");
    Collector collector(writer, pki, dir.file("collect.log"));
    auto b = batch("node-a", {at(1, session("aaaa000000000001", "node-a")), at(2, command("aaaa000000000001", 0, {"/bin/ls"}))});
    auto posted = curl_post(collector.url() + "/v1/upload", upload::encode_batch(b.header, b.records), dir.path(), curl_tls(pki, node));
    ASSERT_EQ(posted.status, 200) << posted.body << collector.log();
    auto listed = run({execaudit_bin(), "sessions", "--db", reader, "--format", "json"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find("aaaa000000000001"), std::string::npos) << listed.out;
    auto shown = run({execaudit_bin(), "show", "aaaa", "--db", reader, "--format", "json"});
    EXPECT_EQ(shown.exit_code, 0) << shown.err;
    auto write = psql("execaudit_reader", "execaudit", "UPDATE sessions SET node = 'node-b'");
    EXPECT_NE(write.exit_code, 0);
    EXPECT_NE(write.err.find("permission denied"), std::string::npos) << write.err;
}

}  // namespace
}  // namespace execaudit::testing
