// Correlation at the collector, end to end: a node uploads its sessions to one `execaudit collect`,
// the API server's audit webhook goes to another, and whichever replica leads (a PostgreSQL
// advisory lock) names each session's user from the cluster store. The leader is killed and the
// other replica takes over. An allowed request with no session is `unrecorded` only once the
// node that hosts its pod has uploaded past the request's window: while that node is silent the
// request stays pending, and /metrics says why.
#include "tests/support/audit_fixtures.h"
#include "tests/support/cluster.h"
#include "tests/support/node_test.h"
#include "tests/support/postgres.h"

#include <gtest/gtest.h>

namespace execaudit::testing {
namespace {
using json = nlohmann::json;

class ClusterAttribution : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"curl", "openssl"}; }
    void SetUp() override {
        NodeTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        EA_REQUIRE(missing_postgres());
        pg_ = std::make_unique<PostgresServer>();
        pki_ = std::make_unique<ClusterPki>(dir_.path());
        node_cert_ = pki_->issue_node("/CN=test-node", "test-node");
        for (int i = 0; i < 2; ++i) {
            upload_port_[i] = free_loopback_port();
            audit_port_[i] = free_loopback_port();
            start_collector(i);
        }
        recorder_ = std::make_unique<Recorder>(*bed_, db_, recorder_args());
    }
    void TearDown() override {
        NodeTest::TearDown();
        for (auto& c : collectors_) c.reset();
    }
    std::vector<std::string> recorder_args() {
        return {"--collector", "https://127.0.0.1:" + std::to_string(upload_port_[0]), "--collector-ca", pki_->ca,
                "--collector-cert", node_cert_, "--collector-key", ClusterPki::key_of(node_cert_)};
    }
    void start_collector(int i) {
        collectors_[i].reset();
        collectors_[i] = std::make_unique<Collector>(
            pg_->uri(), *pki_, dir_.file("collect-" + std::to_string(i) + "-" + std::to_string(++runs_) + ".log"),
            std::vector<std::string>{"--audit-webhook", "127.0.0.1:" + std::to_string(audit_port_[i]), "--client-ca", pki_->ca,
                                     "--client-subject", "kube-apiserver", "--audit-grace", "4"},
            upload_port_[i]);
    }
    int leader() {
        for (int i = 0; i < 2; ++i)
            if (collectors_[i] && collectors_[i]->metric("collector_leader") == 1) return i;
        return -1;
    }
    CurlResult post_audit(int i, const std::vector<json>& items, const std::string& cert = "") {
        return curl_post("https://127.0.0.1:" + std::to_string(audit_port_[i]) + "/audit", event_list(items), dir_.path(),
                         curl_tls(*pki_, cert.empty() ? pki_->apiserver_cert : cert));
    }
    ExecCall call(const std::string& id, const std::string& user, std::vector<std::string> command) {
        ExecCall c;
        c.audit_id = id;
        c.user = user;
        c.ns = "shop";
        c.pod = "web-7f9c";
        c.container = "app";
        c.command = std::move(command);
        c.received_ns = now_ns();
        return c;
    }
    /// A whole exec as the API server audits it, with the session it asked for.
    void exec_as(int collector, const ExecCall& c, const std::string& exec_id) {
        ASSERT_EQ(post_audit(collector, {audit_stage(c, "RequestReceived", c.received_ns, 0)}).status, 200);
        int64_t upgraded = now_ns();
        {
            PtyProcess shell(bed_->exec_tty(container_, exec_id, c.command), 24, 80);
            ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
            shell.type("echo " + exec_id + "; exit\r");
            ASSERT_EQ(shell.wait(20s), 0);
        }
        auto r = post_audit(collector, {audit_stage(c, "ResponseStarted", upgraded, 101),
                                        audit_stage(c, "ResponseComplete", now_ns(), 101)});
        ASSERT_EQ(r.status, 200) << r.body;
    }
    json cluster(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {execaudit_bin()};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--db", pg_->uri(), "--format", "json"});
        auto r = run(argv);
        return r.exit_code == 0 ? json::parse(r.out) : json::array();
    }
    json cluster_session_of(const std::string& user) {
        for (const auto& s : cluster({"sessions"}))
            if (s["user"] == user) return s;
        return json::object();
    }
    std::string request_state(const std::string& audit_id) {
        for (const auto& r : cluster({"audit-events"}))
            if (r["audit_id"] == audit_id) return r["state"];
        return "";
    }
    std::string logs() {
        std::string out = recorder_ ? recorder_->log() : "";
        for (auto& c : collectors_)
            if (c) out += "\n--- collector ---\n" + c->log();
        return out;
    }

    std::unique_ptr<PostgresServer> pg_;
    std::unique_ptr<ClusterPki> pki_;
    std::unique_ptr<Collector> collectors_[2];
    uint16_t upload_port_[2] = {}, audit_port_[2] = {};
    std::string node_cert_;
    int runs_ = 0;
};

TEST_F(ClusterAttribution, OneLeaderNamesEveryUserAcrossReplicasAndAnotherTakesOver) {
    ASSERT_TRUE(eventually([&] { return leader() >= 0; }, 30s)) << logs();
    // the audit events go to the replica the node does not upload to
    exec_as(1, call("a11ce000-0000-4000-8000-000000000001", "alice", {"/bin/bash", "--norc"}), "alice-1");
    ASSERT_TRUE(eventually([&] { return cluster_session_of("alice").value("attribution", "") == "audit"; }, 60s))
        << cluster({"sessions"}).dump(2) << logs();
    EXPECT_EQ(cluster_session_of("alice")["node"], "test-node");
    EXPECT_EQ(cluster_session_of("alice")["audit_id"], "a11ce000-0000-4000-8000-000000000001");
    // a node's certificate cannot post identities
    auto forged = post_audit(1, {audit_stage(call("f0f0f0f0-0000-4000-8000-000000000009", "mallory", {"/bin/sh"}),
                                             "RequestReceived", now_ns(), 0)},
                             node_cert_);
    EXPECT_EQ(forged.status, 0) << forged.body;

    // The leader dies: the other replica takes over, and correlation goes on.
    int first = leader();
    ASSERT_GE(first, 0);
    collectors_[first]->kill();
    int other = 1 - first;
    ASSERT_TRUE(eventually([&] { return collectors_[other]->metric("collector_leader") == 1; }, 30s)) << logs();
    if (first == 0) start_collector(0);  // the node uploads there
    exec_as(other, call("b0b00000-0000-4000-8000-000000000002", "bob", {"/bin/bash", "--norc"}), "bob-1");
    ASSERT_TRUE(eventually([&] { return cluster_session_of("bob").value("attribution", "") == "audit"; }, 60s))
        << cluster({"sessions"}).dump(2) << logs();
    EXPECT_EQ(cluster_session_of("alice")["user"], "alice");  // nothing decided twice
    EXPECT_EQ(cluster({"sessions"}).size(), 2u);
}

TEST_F(ClusterAttribution, UnrecordedWaitsForTheNodeThatHostsThePod) {
    ASSERT_TRUE(eventually([&] { return leader() >= 0; }, 30s)) << logs();
    // the node is up to date: an allowed exec with no session becomes unrecorded after the grace
    auto carol = call("ca201000-0000-4000-8000-000000000003", "carol", {"/bin/cat", "/etc/shadow"});
    ASSERT_EQ(post_audit(0, {audit_stage(carol, "RequestReceived", carol.received_ns, 0),
                             audit_stage(carol, "ResponseStarted", now_ns(), 101),
                             audit_stage(carol, "ResponseComplete", now_ns(), 101)})
                  .status,
              200);
    ASSERT_TRUE(eventually([&] { return request_state(carol.audit_id) == "unrecorded"; }, 60s)) << logs();

    // the node goes silent: a request for its pod stays pending, however long
    ASSERT_EQ(recorder_->stop(), 0);
    recorder_.reset();
    auto dan = call("da200000-0000-4000-8000-000000000004", "dan", {"/bin/cat", "/etc/hosts"});
    ASSERT_EQ(post_audit(1, {audit_stage(dan, "RequestReceived", dan.received_ns, 0),
                             audit_stage(dan, "ResponseStarted", now_ns(), 101),
                             audit_stage(dan, "ResponseComplete", now_ns(), 101)})
                  .status,
              200);
    int l = leader();
    ASSERT_GE(l, 0);
    ASSERT_TRUE(eventually([&] { return collectors_[l]->metric("collector_requests_waiting_for_nodes") >= 1; }, 60s)) << logs();
    EXPECT_EQ(request_state(dan.audit_id), "pending");
    // silent once its heartbeat is older than 30 s; still pending then
    EXPECT_TRUE(eventually([&] { return collectors_[l]->metric("collector_nodes_silent") >= 1; }, 90s)) << logs();
    EXPECT_GE(collectors_[l]->metric("collector_node_heartbeat_age_seconds{node=\"test-node\"}"), 30);
    EXPECT_EQ(request_state(dan.audit_id), "pending");
    // back and caught up: now it is a finding
    recorder_ = std::make_unique<Recorder>(*bed_, db_, recorder_args());
    ASSERT_TRUE(eventually([&] { return request_state(dan.audit_id) == "unrecorded"; }, 60s)) << logs();
}

}  // namespace
}  // namespace execaudit::testing
