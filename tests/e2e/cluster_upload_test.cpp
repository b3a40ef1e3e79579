// Cluster mode end to end: a real session in a real container, recorded by `record --collector`
// and uploaded over mutual TLS to a real `execaudit collect` on a real PostgreSQL, then read back
// with the read commands' `--db postgresql://...`. The collector is killed mid-session and the
// recorder restarted while it is away, then PostgreSQL is stopped for a while: when all are back,
// the cluster's copy is the node's, record for record (the node's hash chain verifies on
// PostgreSQL: nothing lost, doubled or reordered), and the leader exported all of it.
#include "tests/support/cluster.h"
#include "tests/support/kube_api.h"
#include "tests/support/node_test.h"
#include "tests/support/postgres.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace execaudit::testing {
namespace {
using json = nlohmann::json;

class ClusterUpload : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"curl", "openssl"}; }
    void SetUp() override {
        NodeTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        EA_REQUIRE(missing_postgres());
        pg_ = std::make_unique<PostgresServer>();
        pki_ = std::make_unique<ClusterPki>(dir_.path());
        node_cert_ = pki_->issue_node("/CN=test-node", "test-node");  // the testbed's recorder is --node-name test-node
        port_ = free_loopback_port();
        pins_ = std::make_unique<PinDirLease>(db_);  // the session outlives a recorder restart
    }
    void TearDown() override {
        NodeTest::TearDown();
        collector_.reset();
        pins_.reset();
    }
    void start_collector() {
        collector_.reset();
        collector_ = std::make_unique<Collector>(pg_->uri(), *pki_, dir_.file("collect-" + std::to_string(++runs_) + ".log"),
                                                 std::vector<std::string>{"--export-jsonl", dir_.file("cluster.jsonl")}, port_);
    }
    void start_recorder() {
        recorder_.reset();
        recorder_ = std::make_unique<Recorder>(
            *bed_, db_,
            std::vector<std::string>{"--collector", "https://127.0.0.1:" + std::to_string(port_), "--collector-ca", pki_->ca,
                                     "--collector-cert", node_cert_, "--collector-key", ClusterPki::key_of(node_cert_),
                                     "--metrics", "127.0.0.1:0"});
    }
    json cluster_sessions() {
        auto r = run({execaudit_bin(), "sessions", "--db", pg_->uri(), "--format", "json"});
        if (r.exit_code != 0) {
            last_error_ = r.err;
            return json::array();
        }
        return json::parse(r.out);
    }
    /// What a failed wait should show: both sides' logs, the spool, the cluster's rows.
    std::string diagnose() {
        return fmt::format("sessions --db: {}\nspooled: {}\ncluster sessions: {}\nrecorder:\n{}\ncollector:\n{}", last_error_,
                           run({"sqlite3", db_, "SELECT count(*) FROM upload_outbox"}).out,
                           pg_->query("SELECT id, node, status, attribution FROM sessions") + pg_->query("SELECT session_id, seq, argv_text FROM commands") + run({execaudit_bin(), "sessions", "--db", pg_->uri(), "--format", "json"}).out, recorder_ ? recorder_->log() : "",
                           collector_ ? collector_->log() : "");
    }
    /// The cluster's copy holds a command with `word` as its argument.
    bool uploaded(const std::string& id, const std::string& word) {
        auto r = run({execaudit_bin(), "show", id, "--db", pg_->uri(), "--format", "json"});
        if (r.exit_code != 0) {
            last_error_ = r.err;
            return false;
        }
        json shown = json::parse(r.out);  // a local: a range-for over a temporary's member dangles
        for (const auto& c : shown["timeline"])
            for (const auto& a : c["argv"])
                if (a == word) return true;
        return false;
    }
    int64_t spooled() {
        return std::stoll(run({"sqlite3", db_, "SELECT count(*) FROM upload_outbox"}).out);
    }

    std::unique_ptr<PostgresServer> pg_;
    std::unique_ptr<ClusterPki> pki_;
    std::unique_ptr<Collector> collector_;
    std::unique_ptr<PinDirLease> pins_;
    std::string node_cert_;
    uint16_t port_ = 0;
    int runs_ = 0;
    std::string last_error_;
};

TEST_F(ClusterUpload, ASessionReachesTheClusterStoreWholeAcrossACollectorCrashAndARecorderRestart) {
    EA_REQUIRE(missing_program("sqlite3"));
    start_collector();
    start_recorder();
    PtyProcess shell(bed_->exec_tty(container_, "cluster-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    ASSERT_TRUE(run_in(shell, "/bin/echo first-word"));
    std::string id;
    ASSERT_TRUE(eventually([&] {
        auto list = cluster_sessions();
        if (list.size() != 1) return false;
        id = list[0]["id"].get<std::string>();
        return uploaded(id, "first-word");
    }, 30s)) << diagnose();
    EXPECT_EQ(cluster_sessions()[0]["node"], "test-node");
    EXPECT_EQ(cluster_sessions()[0]["status"], "open");

    // The collector dies mid-session: the node keeps recording into its spool.
    collector_->kill();
    ASSERT_TRUE(run_in(shell, "/bin/echo while-the-collector-is-down"));
    ASSERT_TRUE(eventually([&] { return spooled() > 0; }, 20s));
    // ...and the recorder is restarted meanwhile (an upgrade): the spool and the session carry on.
    ASSERT_EQ(recorder_->stop(), 0) << recorder_->log();
    ASSERT_TRUE(run_in(shell, "/bin/echo between-recorders"));
    start_recorder();
    ASSERT_TRUE(run_in(shell, "/bin/echo after-the-restart"));
    EXPECT_FALSE(uploaded(id, "while-the-collector-is-down"));

    start_collector();
    ASSERT_TRUE(eventually([&] { return uploaded(id, "after-the-restart"); }, 30s)) << diagnose();
    // PostgreSQL goes away for a while: the collector answers 503, the node keeps its backlog
    pg_->stop();
    ASSERT_TRUE(run_in(shell, "/bin/echo while-postgres-is-down"));
    ASSERT_TRUE(eventually([&] { return collector_->metric("collector_upload_database_failures_total") > 0; }, 30s))
        << collector_->log();
    EXPECT_EQ(collector_->metric("collector_database_up"), 0);
    EXPECT_GT(spooled(), 0);
    pg_->start();
    ASSERT_TRUE(run_in(shell, "/bin/echo last-word"));
    shell.type("exit\r");
    ASSERT_TRUE(shell.wait(20s));
    ASSERT_TRUE(eventually([&] {
        auto list = cluster_sessions();
        return list.size() == 1 && list[0]["status"] == "ended" && spooled() == 0;
    }, 60s)) << diagnose();

    // The cluster's copy is the node's: metadata, timeline, terminal, and the chain.
    json node_view = show_session(db_, id), cluster_view;
    auto shown = run({execaudit_bin(), "show", id, "--db", pg_->uri(), "--format", "json"});
    ASSERT_EQ(shown.exit_code, 0) << shown.err;
    cluster_view = json::parse(shown.out);
    for (const char* field : {"status", "exit_code", "commands", "output_bytes", "input_bytes", "lost_bytes", "lost_events",
                              "start", "end", "namespace", "pod", "container", "node"})
        EXPECT_EQ(cluster_view[field], node_view[field]) << field;
    EXPECT_EQ(cluster_view["timeline"], node_view["timeline"]);
    for (const char* word : {"first-word", "while-the-collector-is-down", "between-recorders", "after-the-restart",
                             "while-postgres-is-down", "last-word"})
        EXPECT_TRUE(uploaded(id, word)) << word;
    auto cat = run({execaudit_bin(), "play", id, "--cat", "--db", pg_->uri()});
    ASSERT_EQ(cat.exit_code, 0) << cat.err;
    EXPECT_EQ(cat.out, play_cat(db_, id));
    EXPECT_NE(cat.out.find("\nwhile-the-collector-is-down\n"), std::string::npos) << cat.out;
    auto verify = run({execaudit_bin(), "verify", "--db", pg_->uri()});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    // nothing twice: one row per record
    EXPECT_EQ(pg_->query("SELECT count(*) = count(DISTINCT seq) FROM commands"), "t\n");
    EXPECT_EQ(pg_->query("SELECT count(*) FROM io_chunks"),
              run({"sqlite3", db_, "SELECT count(*) FROM io_chunks"}).out);
    EXPECT_EQ(pg_->query("SELECT count(*) FROM commands"), run({"sqlite3", db_, "SELECT count(*) FROM commands"}).out);
    EXPECT_GT(collector_->metric("collector_upload_batches_total"), 0);
    // the leader exported the session from the cluster store, every record, after a crash too
    std::set<std::string> want = {id + ":start", id + ":end"};
    for (size_t i = 0; i < cluster_view["timeline"].size(); ++i) want.insert(id + ":command:" + std::to_string(i));
    std::set<std::string> got;
    ASSERT_TRUE(eventually([&] {
        got.clear();
        std::istringstream lines(read_file(dir_.file("cluster.jsonl")));
        for (std::string line; std::getline(lines, line);)
            if (auto j = json::parse(line, nullptr, false); j.is_object() && j.contains("record_id")) got.insert(j["record_id"].get<std::string>());
        return std::includes(got.begin(), got.end(), want.begin(), want.end());
    }, 30s)) << json(got).dump() << " of " << json(want).dump() << diagnose();
    // the collector checked the node's chain when the session's end arrived
    EXPECT_GE(collector_->metric("collector_chains_verified_total"), 1);
    EXPECT_EQ(collector_->metric("collector_chain_failures_total"), 0);
}

TEST_F(ClusterUpload, ANodeWhoseCertificateNamesAnotherNodeIsToldAtStart) {
    auto other = pki_->issue_node("/CN=another-node", "another-node");
    auto r = run({execaudit_bin(), "record", "--db", db_, "--node-name", "test-node", "--cgroup-root", bed_->cgroup_root(),
                  "--collector", "https://127.0.0.1:" + std::to_string(port_), "--collector-ca", pki_->ca, "--collector-cert",
                  other, "--collector-key", ClusterPki::key_of(other), "--no-bpf-pin"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("is for node 'another-node'"), std::string::npos) << r.err;
}

// Which workload, in cluster mode (issue 17): what the node's API server said of the pod travels
// with the upload to PostgreSQL, `sessions --db postgresql://` shows it and finds it by label and
// workload, and the collector's --cluster-name is the one stored, not the node's claim.
TEST_F(ClusterUpload, TheWorkloadReachesTheClusterStoreUnderTheCollectorsClusterName) {
    TempDir api_dir;
    std::ofstream(api_dir.file("token")) << "agent-token\n";
    KubeApiServer api(api_dir.path(), "agent-token");
    KubePodSpec pod;
    pod.name = "web-7f9c";
    pod.uid = pod_uid();
    ASSERT_FALSE(pod.uid.empty());
    pod.node = "test-node";
    pod.owner_name = "web-frontend-5d8f7c9b6";
    pod.service_account = "web-sa";
    pod.labels = {{"app", "web"}, {"pod-template-hash", "5d8f7c9b6"}, {"team", "pay\"]ments"}};
    api.control("add", {{"pod", kube_pod(pod)}});
    collector_ = std::make_unique<Collector>(pg_->uri(), *pki_, dir_.file("collect.log"),
                                             std::vector<std::string>{"--cluster-name", "prod-eu"}, port_);
    recorder_ = std::make_unique<Recorder>(
        *bed_, db_,
        std::vector<std::string>{"--collector", "https://127.0.0.1:" + std::to_string(port_), "--collector-ca", pki_->ca,
                                 "--collector-cert", node_cert_, "--collector-key", ClusterPki::key_of(node_cert_),
                                 "--kubeconfig", api.kubeconfig("kubeconfig", {{"tokenFile", api_dir.file("token")}}),
                                 "--cluster-name", "what-the-node-says", "--metrics", "127.0.0.1:0"});
    ASSERT_TRUE(eventually([&] {
        int port = logged_port(recorder_->log(), "metrics");
        auto m = run({"curl", "-s", "http://127.0.0.1:" + std::to_string(port) + "/metrics"}).out;
        return m.find("\nexecaudit_kube_pods_synced 1\n") != std::string::npos;
    })) << recorder_->log();
    auto r = run(bed_->ctr({"task", "exec", "--exec-id", "who-1", container_, "/bin/cat", "/etc/passwd"}), 60s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    json s;
    ASSERT_TRUE(eventually([&] {
        auto all = run({execaudit_bin(), "sessions", "--db", pg_->uri(), "--format", "json", "--all"});
        if (all.exit_code != 0) return false;
        auto list = json::parse(all.out);
        if (list.size() != 1 || list[0]["status"] != "ended") return false;
        s = list[0];
        return true;
    }, 30s)) << diagnose();
    EXPECT_EQ(s["labels"], (json{{"app", "web"}, {"pod-template-hash", "5d8f7c9b6"}, {"team", "pay\"]ments"}})) << s.dump();
    EXPECT_EQ(s["owner"], (json{{"kind", "ReplicaSet"}, {"name", "web-frontend-5d8f7c9b6"}}));
    EXPECT_EQ(s["workload"], (json{{"kind", "Deployment"}, {"name", "web-frontend"}}));
    EXPECT_EQ(s["service_account"], "web-sa");
    EXPECT_EQ(s["cluster"], "prod-eu");  // the collector's name, not the node's claim
    // the node's own copy keeps what the node said
    EXPECT_EQ(list_sessions(db_, {"--all"})[0]["cluster"], "what-the-node-says");
    auto count = [&](std::vector<std::string> filter) {
        std::vector<std::string> args = {execaudit_bin(), "sessions", "--db", pg_->uri(), "--format", "json", "--all"};
        args.insert(args.end(), filter.begin(), filter.end());
        auto out = run(args);
        EXPECT_EQ(out.exit_code, 0) << out.err;
        return out.exit_code == 0 ? json::parse(out.out).size() : size_t{99};
    };
    EXPECT_EQ(count({"--label", "app=web"}), 1u);
    EXPECT_EQ(count({"--label", "team=pay\"]ments"}), 1u);
    EXPECT_EQ(count({"--label", "app=db"}), 0u);
    EXPECT_EQ(count({"--workload", "Deployment/web-frontend"}), 1u);
    EXPECT_EQ(count({"--workload", "StatefulSet/web-frontend"}), 0u);
    auto shown = run({execaudit_bin(), "show", s["id"].get<std::string>(), "--db", pg_->uri()});
    EXPECT_NE(shown.out.find("Deployment/web-frontend"), std::string::npos) << shown.out;
}

}  // namespace
}  // namespace execaudit::testing
