// The node agent with pods from an API server (tests/support/kube_api_server.py, real HTTPS):
// `record --kubeconfig` lists its node's pods and keeps watching, and /metrics says so; without
// API access it records as before and says so once, at start and in /metrics.
#include "tests/support/audit_fixtures.h"
#include "tests/support/kube_api.h"
#include "tests/support/node_test.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace execaudit::testing;

namespace {

class PodsApiTest : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"curl", "openssl"}; }

    /// The pod UID the testbed gave the container (its /var/log/pods directory: ns_pod_uid).
    std::string pod_uid() const {
        for (const auto& e : std::filesystem::directory_iterator(bed_->pods_log_dir())) {
            std::string name = e.path().filename().string();
            if (name.rfind("shop_web-7f9c_", 0) == 0) return name.substr(std::string("shop_web-7f9c_").size());
        }
        return "";
    }
    std::string metrics() {
        int port = logged_port(recorder_->log(), "metrics");
        return run({"curl", "-s", "http://127.0.0.1:" + std::to_string(port) + "/metrics"}).out;
    }
    static bool has(const std::string& body, const std::string& sample) {
        return body.find("\n" + sample + "\n") != std::string::npos;
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
