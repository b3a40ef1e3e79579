// Correlation at the collector, end to end: a node uploads its sessions to one `execaudit collect`,
// the API server's audit webhook goes to another, and whichever replica leads (a PostgreSQL
// advisory lock) names each session's user from the cluster store. The leader is killed and the
// other replica takes over. An allowed request with no session is `unrecorded` only once the
// node that hosts its pod has uploaded past the request's window: while that node is silent the
// request stays pending, and /metrics says why.
#include "tests/support/cluster_test.h"

#include <gtest/gtest.h>

namespace execaudit::testing {
namespace {
using json = nlohmann::json;

class ClusterAttribution : public ClusterTest {
protected:
    void SetUp() override {
        ClusterTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        for (int i = 0; i < 2; ++i) start_collector(i);
        recorder_ = std::make_unique<Recorder>(*bed_, db_, recorder_args());
    }
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
