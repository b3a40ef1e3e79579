// Two real nodes, one cluster: two testbeds, each a node of its own, record into their own SQLite
// and upload to two `execaudit collect` replicas on one PostgreSQL; the API server's audit webhook
// goes to one replica only, for execs on both nodes.
//
// Two nodes on one machine: each testbed (scripts/testbed) is a private containerd with its own
// state, socket and runc namespace, and puts its pods under a cgroup prefix of its own
// (/execaudit-<dir>-<pid>/kubepods); its kubelet log directories are its own too. Each recorder
// is given its node's prefix (`record --cgroup-root`), its own bpffs pin directory, SQLite, node
// name and node certificate (CN = the name), so its BPF programs follow only its own node's
// containers and its heartbeat lists only its own pods: what one node records the other never
// sees, exactly as on two machines. The test checks that too (each SQLite holds its node's only).
#include "tests/support/cluster_test.h"

#include <gtest/gtest.h>

namespace execaudit::testing {
namespace {
using json = nlohmann::json;

class ClusterNodes : public ClusterTest {};

TEST_F(ClusterNodes, ExecsOnTwoNodesAreAttributedByOneWebhookAndReadFromTheClusterStore) {
    for (int i = 0; i < 2; ++i) start_collector(i);
    // node-a: NodeTest's testbed (pod shop/web-7f9c), uploading to replica 0
    std::string cert_a = pki_->issue_node("/CN=node-a", "node-a");
    auto args_a = upload_args(cert_a, 0);
    args_a.insert(args_a.end(), {"--node-name", "node-a"});
    recorder_ = std::make_unique<Recorder>(*bed_, db_, args_a);
    // node-b: a testbed of its own (pod shop/api-5d8b), uploading to replica 1
    Node& b = add_node("node-b");
    std::string container_b = b.bed->run_container("shop", "api-5d8b", "app");
    start_node(b, 1);
    ASSERT_TRUE(eventually([&] { return leader() >= 0; }, 30s)) << logs();

    // Every audit event goes to replica 0, whichever node ran the exec.
    exec_as(0, call("a11ce000-0000-4000-8000-0000000000a1", "alice", {"/bin/bash", "--norc"}, "web-7f9c"), "alice-on-a");
    exec_as(0, call("b0b00000-0000-4000-8000-0000000000b2", "bob", {"/bin/bash", "--norc"}, "api-5d8b"), "bob-on-b", *b.bed,
            container_b);
    // and someone on node-b runs a command in its container around the API server
    auto sneaky = run(b.bed->ctr({"task", "exec", "--exec-id", "sneaky", container_b, "/bin/sh", "-c", "echo around-the-api"}), 60s);
    ASSERT_EQ(sneaky.exit_code, 0) << sneaky.err;

    json all;
    ASSERT_TRUE(eventually([&] {
        all = cluster({"sessions", "--all"});
        if (all.size() != 3) return false;
        for (const auto& s : all)
            if (s["attribution"] == "pending") return false;
        return true;
    }, 60s)) << all.dump(1) << logs();

    json alice = cluster_session_of("alice"), bob = cluster_session_of("bob"), nobody;
    for (const auto& s : all)
        if (s["user"].is_null()) nobody = s;
    EXPECT_EQ(alice["attribution"], "audit");
    EXPECT_EQ(alice["node"], "node-a");
    EXPECT_EQ(alice["pod"], "web-7f9c");
    EXPECT_EQ(alice["audit_id"], "a11ce000-0000-4000-8000-0000000000a1");
    EXPECT_EQ(bob["attribution"], "audit");
    EXPECT_EQ(bob["node"], "node-b");
    EXPECT_EQ(bob["pod"], "api-5d8b");
    EXPECT_EQ(bob["audit_id"], "b0b00000-0000-4000-8000-0000000000b2");
    ASSERT_TRUE(nobody.is_object()) << all.dump(1);
    EXPECT_EQ(nobody["attribution"], "unattributed");
    EXPECT_EQ(nobody["node"], "node-b");
    EXPECT_EQ(nobody["pod"], "api-5d8b");
    // what a spreadsheet gets names both nodes too
    auto csv = run({execaudit_bin(), "sessions", "--db", pg_->uri(), "--format", "csv"});
    ASSERT_EQ(csv.exit_code, 0) << csv.err;
    EXPECT_NE(csv.out.find(",node-a,shop,web-7f9c,"), std::string::npos) << csv.out;
    EXPECT_NE(csv.out.find(",node-b,shop,api-5d8b,"), std::string::npos) << csv.out;

    // Each node recorded its own containers only; the cluster replays each as its node does.
    auto on_a = list_sessions(db_, {"--all"}), on_b = list_sessions(b.db, {"--all"});
    ASSERT_EQ(on_a.size(), 1u) << on_a.dump(1);
    EXPECT_EQ(on_a[0]["id"], alice["id"]);
    EXPECT_EQ(on_b.size(), 2u) << on_b.dump(1);
    for (const auto& [who, db] : {std::pair{alice, db_}, std::pair{bob, b.db}}) {
        std::string id = who["id"].get<std::string>();
        // the session has ended on the node; its last chunk may still be on its way
        std::string node_cat = play_cat(db, id), cluster_cat;
        ASSERT_TRUE(eventually([&] {
            auto r = run({execaudit_bin(), "play", id, "--cat", "--db", pg_->uri()});
            cluster_cat = r.out;
            return r.exit_code == 0 && cluster_cat == node_cat;
        }, 30s)) << "cluster:\n" << cluster_cat << "\nnode:\n" << node_cat;
    }
    EXPECT_NE(play_cat(db_, alice["id"].get<std::string>()).find("alice-on-a"), std::string::npos);
    EXPECT_NE(play_cat(b.db, bob["id"].get<std::string>()).find("bob-on-b"), std::string::npos);
}

}  // namespace
}  // namespace execaudit::testing
