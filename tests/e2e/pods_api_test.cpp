// The node agent with pods from an API server (tests/support/kube_api_server.py, real HTTPS):
// `record --kubeconfig` lists its node's pods and keeps watching, and /metrics says so; without
// API access it records as before and says so once, at start and in /metrics.
#include "tests/support/audit_fixtures.h"
#include "tests/support/kube_api.h"
#include "tests/support/node_test.h"
#include "tests/support/rsyslog.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace execaudit::testing;

namespace {

class PodsApiTest : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"curl", "openssl"}; }

    std::string metrics() {
        int port = logged_port(recorder_->log(), "metrics");
        return run({"curl", "-s", "http://127.0.0.1:" + std::to_string(port) + "/metrics"}).out;
    }
    static bool has(const std::string& body, const std::string& sample) {
        return body.find("\n" + sample + "\n") != std::string::npos;
    }
    /// The value of an unlabelled sample in a /metrics body; -1 when it is absent.
    static double sample(const std::string& body, const std::string& name) {
        auto at = body.find("\n" + name + " ");
        return at == std::string::npos ? -1.0 : std::atof(body.c_str() + at + name.size() + 2);
    }
};

TEST_F(PodsApiTest, KubeconfigListsThisNodesPodsAndWatches) {
    TempDir api_dir;
    std::ofstream(api_dir.file("token")) << "agent-token\n";
    KubeApiServer api(api_dir.path(), "agent-token");
    KubePodSpec pod;
    pod.name = "web-7f9c";
    pod.uid = pod_uid();
    ASSERT_FALSE(pod.uid.empty());
    pod.node = "test-node";
    pod.execs = {{"app", "livenessProbe", {"cat", "/tmp/healthy"}}};
    api.control("add", {{"pod", kube_pod(pod)}});
    auto kubeconfig = api.kubeconfig("kubeconfig", {{"tokenFile", api_dir.file("token")}});
    recorder_ = std::make_unique<Recorder>(*bed_, db_, std::vector<std::string>{"--kubeconfig", kubeconfig, "--metrics",
                                                                                 "127.0.0.1:0"});
    ASSERT_TRUE(eventually([&] { return has(metrics(), "execaudit_kube_pods_synced 1"); })) << recorder_->log();
    std::string m = metrics();
    EXPECT_TRUE(has(m, "execaudit_kube_api_configured 1")) << m;
    EXPECT_TRUE(has(m, "execaudit_kube_pods_cached 1")) << m;
    EXPECT_TRUE(eventually([&] { return has(metrics(), "execaudit_kube_watch_open 1"); }));
    EXPECT_NE(recorder_->log().find("pods of node test-node from the API server"), std::string::npos) << recorder_->log();
    // the API server goes away mid-watch: recording goes on, the failure is counted
    api.control("drop");
    EXPECT_TRUE(eventually([&] { return !has(metrics(), "execaudit_kube_stream_failures_total 0"); }));
    EXPECT_EQ(recorder_->stop(), 0);
}

// Whoever may create pods may bind thousands to this node (spec.nodeName), each as large as the API
// server takes: the recorder keeps them up to --kube-max-cache-mb and refuses the rest, counted,
// instead of growing until it is killed.
TEST_F(PodsApiTest, PodsBoundToThisNodePastTheCacheBoundAreRefusedAndCounted) {
    TempDir api_dir;
    std::ofstream(api_dir.file("token")) << "agent-token\n";
    KubeApiServer api(api_dir.path(), "agent-token");
    constexpr int kPods = 1500;
    nlohmann::json flood = nlohmann::json::array();
    for (int i = 0; i < kPods; ++i) {
        KubePodSpec p;
        p.name = fmt::format("flood-{:04d}", i);
        p.uid = fmt::format("00000000-0000-4000-8000-{:012d}", i);
        p.node = "test-node";
        p.labels = {{"padding", std::string(2000, 'p')}};
        p.execs = {{"app", "livenessProbe", {"cat", "/tmp/healthy"}}};
        flood.push_back(kube_pod(p));
    }
    api.control("add", {{"pods", flood}});
    auto kubeconfig = api.kubeconfig("kubeconfig", {{"tokenFile", api_dir.file("token")}});
    recorder_ = std::make_unique<Recorder>(*bed_, db_, std::vector<std::string>{"--kubeconfig", kubeconfig, "--metrics",
                                                                                 "127.0.0.1:0", "--kube-max-cache-mb", "1"});
    ASSERT_TRUE(eventually([&] { return has(metrics(), "execaudit_kube_pods_synced 1"); })) << recorder_->log();
    std::string m = metrics();
    auto value = [&](const std::string& name) { return sample(m, name); };
    double kept = value("execaudit_kube_pods_cached"), refused = value("execaudit_kube_pods_over_budget_total");
    EXPECT_GT(kept, 100) << m;
    EXPECT_LT(kept, kPods) << m;
    EXPECT_EQ(kept + refused, kPods) << m;
    EXPECT_EQ(value("execaudit_kube_pods_refused_total"), refused) << m;
    EXPECT_GT(value("execaudit_kube_cache_bytes"), 0.9 * (1 << 20)) << m;
    EXPECT_LE(value("execaudit_kube_cache_bytes"), 1 << 20) << m;
    const std::string warning = "are past --kube-max-cache-mb 1 and refused";
    auto log = recorder_->log();
    EXPECT_NE(log.find(warning), std::string::npos) << log;
    EXPECT_EQ(log.find(warning), log.rfind(warning)) << "said once:\n" << log;
    // and it goes on watching
    EXPECT_TRUE(eventually([&] { return has(metrics(), "execaudit_kube_watch_open 1"); }));
    EXPECT_EQ(recorder_->stop(), 0);
}

// And as fast as the API server takes, create and delete them: a deleted pod is kept ten minutes (a
// preStop hook is judged after its pod's deletion), so the deleted pods and earlier versions kept are
// bounded in bytes as well, the oldest going first, counted and said once.
TEST_F(PodsApiTest, PodsCreatedAndDeletedPastTheCacheBoundAreDroppedOldestFirstAndCounted) {
    TempDir api_dir;
    std::ofstream(api_dir.file("token")) << "agent-token\n";
    KubeApiServer api(api_dir.path(), "agent-token");
    KubePodSpec real;
    real.name = "web-7f9c";
    real.uid = "11111111-0000-4000-8000-000000000001";
    real.node = "test-node";
    real.execs = {{"app", "livenessProbe", {"cat", "/tmp/healthy"}}};
    api.control("add", {{"pod", kube_pod(real)}});
    recorder_ = std::make_unique<Recorder>(
        *bed_, db_, std::vector<std::string>{"--kubeconfig", api.kubeconfig("kubeconfig", {{"tokenFile", api_dir.file("token")}}),
                                            "--metrics", "127.0.0.1:0", "--kube-max-cache-mb", "1"});
    ASSERT_TRUE(eventually([&] { return has(metrics(), "execaudit_kube_watch_open 1"); })) << recorder_->log();
    std::string m;
    auto value = [&](const std::string& name) { return sample(m, name); };
    constexpr int kRounds = 4, kPods = 200;  // each round well inside the bound; all of them twice past it
    for (int round = 0; round < kRounds; ++round) {
        nlohmann::json flood = nlohmann::json::array(), uids = nlohmann::json::array();
        for (int i = 0; i < kPods; ++i) {
            KubePodSpec p;
            p.name = fmt::format("churn-{}-{:03d}", round, i);
            p.uid = fmt::format("00000000-0000-4000-8{:03d}-{:012d}", round, i);
            p.node = "test-node";
            p.labels = {{"padding", std::string(2000, 'p')}};
            flood.push_back(kube_pod(p));
            uids.push_back(p.uid);
        }
        api.control("add", {{"pods", flood}});
        api.control("delete", {{"uids", uids}});
    }
    const double events = 2.0 * kRounds * kPods;  // the real pod came in the list
    ASSERT_TRUE(eventually([&] {
        m = metrics();
        return value("execaudit_kube_watch_events_total") >= events;
    })) << m << recorder_->log();
    EXPECT_EQ(value("execaudit_kube_pods_over_budget_total"), 0) << m;
    EXPECT_EQ(value("execaudit_kube_pods_cached"), 1) << m;
    EXPECT_LE(value("execaudit_kube_cache_history_bytes"), 1 << 20) << m;
    EXPECT_GT(value("execaudit_kube_cache_history_bytes"), 0.9 * (1 << 20)) << m;
    double evicted = value("execaudit_kube_deleted_pods_evicted_total");
    EXPECT_GT(evicted, kPods) << m;
    EXPECT_LT(evicted, kRounds * kPods) << m;
    EXPECT_EQ(value("execaudit_kube_pod_versions_evicted_total"), 0) << m;
    const std::string warning = "deleted pods and earlier versions of pods pass their bound (1 MiB)";
    auto log = recorder_->log();
    EXPECT_NE(log.find(warning), std::string::npos) << log;
    EXPECT_EQ(log.find(warning), log.rfind(warning)) << "said once:\n" << log;
    EXPECT_EQ(recorder_->stop(), 0);
}

// Which workload (issue 17): a real exec into a container whose pod the API server lists with
// labels (one of them hostile) and a ReplicaSet owner. The session says so in `sessions --json`,
// in the JSON lines file, in ECS and in the syslog structured data rsyslog parsed; `--label` and
// `--workload` find it.
TEST_F(PodsApiTest, SessionRecordsSayWhichWorkload) {
    TempDir api_dir;
    std::ofstream(api_dir.file("token")) << "agent-token\n";
    KubeApiServer api(api_dir.path(), "agent-token");
    KubePodSpec pod;
    pod.name = "web-7f9c";
    pod.uid = pod_uid();
    ASSERT_FALSE(pod.uid.empty());
    pod.node = "test-node";
    pod.owner_kind = "ReplicaSet";
    pod.owner_name = "web-frontend-5d8f7c9b6";
    pod.service_account = "web-sa";
    const std::string hostile = "x\"] [injected@1 a=\"b\"\\\nnext";
    pod.labels = {{"app", "web"}, {"pod-template-hash", "5d8f7c9b6"}, {"team", hostile}};
    api.control("add", {{"pod", kube_pod(pod)}});
    Rsyslog rs({});
    std::string jsonl = api_dir.file("records.jsonl");
    recorder_ = std::make_unique<Recorder>(
        *bed_, db_, std::vector<std::string>{"--kubeconfig", api.kubeconfig("kubeconfig", {{"tokenFile", api_dir.file("token")}}),
                                            "--metrics", "127.0.0.1:0", "--cluster-name", "prod-eu", "--export-jsonl",
                                            jsonl, "--export-syslog", rs.url(), "--export-syslog-settle-ms", "500"});
    ASSERT_TRUE(eventually([&] { return has(metrics(), "execaudit_kube_pods_synced 1"); })) << recorder_->log();
    auto r = run(bed_->ctr({"task", "exec", "--exec-id", "who-1", container_, "/bin/cat", "/etc/passwd"}), 60s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(eventually([&] {
        auto all = list_sessions(db_, {"--all"});
        return all.size() == 1 && all[0]["status"] == "ended";
    }, 30s)) << list_sessions(db_, {"--all"}).dump(1) << recorder_->log();

    auto expect_workload = [&](const nlohmann::json& s, const std::string& where) {
        EXPECT_EQ(s["labels"]["app"], "web") << where << s.dump();
        EXPECT_EQ(s["labels"]["team"], hostile) << where;
        EXPECT_EQ(s["owner"], (nlohmann::json{{"kind", "ReplicaSet"}, {"name", "web-frontend-5d8f7c9b6"}})) << where;
        EXPECT_EQ(s["workload"], (nlohmann::json{{"kind", "Deployment"}, {"name", "web-frontend"}})) << where;
        EXPECT_EQ(s["service_account"], "web-sa") << where;
        EXPECT_EQ(s["cluster"], "prod-eu") << where;
    };
    auto all = list_sessions(db_, {"--all"});
    expect_workload(all[0], "sessions --format json");
    std::string id = all[0]["id"];
    expect_workload(show_session(db_, id), "show --format json");
    EXPECT_EQ(list_sessions(db_, {"--all", "--label", "app=web"}).size(), 1u);
    EXPECT_EQ(list_sessions(db_, {"--all", "--label", "app=db"}).size(), 0u);
    EXPECT_EQ(list_sessions(db_, {"--all", "--workload", "Deployment/web-frontend"}).size(), 1u);
    EXPECT_EQ(list_sessions(db_, {"--all", "--workload", "web"}).size(), 0u);

    // ECS, from the database
    auto ecs = run({execaudit_bin(), "export", "--db", db_, "--ecs", "--session", id});
    ASSERT_EQ(ecs.exit_code, 0) << ecs.err;
    std::istringstream ecs_lines(ecs.out);
    size_t ecs_records = 0;
    for (std::string line; std::getline(ecs_lines, line); ++ecs_records) {
        auto j = nlohmann::json::parse(line);
        EXPECT_EQ(j["orchestrator"]["cluster"]["name"], "prod-eu");
        EXPECT_EQ(j["orchestrator"]["resource"]["parent"]["type"], "Deployment");
        EXPECT_EQ(j["orchestrator"]["resource"]["label"][0], "app:web");
        EXPECT_EQ(j["execaudit"]["workload"]["name"], "web-frontend");
        EXPECT_EQ(j["execaudit"]["service_account"], "web-sa");
    }
    EXPECT_GE(ecs_records, 2u);

    // The JSON lines file and rsyslog: every record of the session, each line one record.
    ASSERT_TRUE(eventually([&] {
        size_t ends = 0;
        for (const auto& m : rs.received()) ends += m.record["kind"] == "session_end";
        return ends >= 1;
    }, 30s)) << rs.log() << recorder_->log();
    std::istringstream lines(read_file(jsonl));
    size_t records = 0;
    for (std::string line; std::getline(lines, line); ++records) {
        auto j = nlohmann::json::parse(line);
        expect_workload(j["session"], "JSON lines");
    }
    EXPECT_GE(records, 2u);
    for (const auto& m : rs.received()) {
        expect_workload(m.record["session"], "syslog MSG");
        // rsyslog parsed our structured data: the hostile label stayed inside its value
        const std::string& sd = m.structured_data;
        EXPECT_NE(sd.find(R"(workload="Deployment/web-frontend")"), std::string::npos) << sd;
        EXPECT_NE(sd.find(R"(cluster="prod-eu")"), std::string::npos) << sd;
        EXPECT_NE(sd.find(R"(service_account="web-sa")"), std::string::npos) << sd;
        EXPECT_NE(sd.find(R"(label="app=web")"), std::string::npos) << sd;
        EXPECT_NE(sd.find(R"(label="team=x\"\] [injected@1 a=\"b\"\\ next")"), std::string::npos) << sd;
        EXPECT_EQ(sd.find("[execaudit@32473 "), 0u) << sd;
        EXPECT_EQ(sd.rfind(']'), sd.size() - 1) << sd;  // one SD element, whole
    }
    EXPECT_EQ(recorder_->stop(), 0);
}

TEST_F(PodsApiTest, WithoutApiAccessItSaysSoOnce) {
    recorder_ = std::make_unique<Recorder>(*bed_, db_, std::vector<std::string>{"--metrics", "127.0.0.1:0"});
    std::string log = recorder_->log();
    auto first = log.find("pods are known from the node only");
    ASSERT_NE(first, std::string::npos) << log;
    EXPECT_EQ(log.find("pods are known from the node only", first + 1), std::string::npos) << "once";
    EXPECT_TRUE(has(metrics(), "execaudit_kube_api_configured 0"));
    EXPECT_EQ(recorder_->stop(), 0);
}

TEST(RecordKubeconfig, ABadKubeconfigIsABadFlag) {
    TempDir dir;
    std::ofstream(dir.file("kubeconfig")) << "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n";
    auto r = run({execaudit_bin(), "record", "--db", dir.file("db"), "--kubeconfig", dir.file("kubeconfig")});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--kubeconfig"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("no context named nowhere"), std::string::npos) << r.err;
    auto both = run({execaudit_bin(), "record", "--db", dir.file("db"), "--kubeconfig", dir.file("kubeconfig"), "--no-kube-api"});
    EXPECT_EQ(both.exit_code, 2) << both.err;
}

}  // namespace
