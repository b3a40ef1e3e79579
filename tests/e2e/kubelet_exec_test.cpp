// The kubelet's own exec probes, played the way the kubelet runs them (a non-tty runc exec through
// containerd, with the probe's exact argv) against a real container whose pod spec the test's API
// server serves: stored as `attribution: kubelet`, `entered_via: probe`, hidden from `sessions`;
// the look-alikes (another argv, the probe's argv on a tty) stay findings and say why.
#include "tests/support/audit_fixtures.h"
#include "tests/support/kube_api.h"
#include "tests/support/node_test.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace execaudit::testing;

namespace {

class KubeletExecTest : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"curl", "openssl"}; }

    std::string metrics() {
        int port = logged_port(recorder_->log(), "metrics");
        return run({"curl", "-s", "http://127.0.0.1:" + std::to_string(port) + "/metrics"}).out;
    }
    void exec(const std::string& id, const std::vector<std::string>& argv) {
        auto r = run(bed_->exec(container_, id, argv), 60s);
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
};

TEST_F(KubeletExecTest, ProbeRunsAreTheKubeletsAndLookAlikesStayFindings) {
    TempDir api_dir;
    std::ofstream(api_dir.file("token")) << "agent-token\n";
    KubeApiServer api(api_dir.path(), "agent-token");
    const std::vector<std::string> probe = {"/bin/cat", "/etc/passwd"};
    KubePodSpec pod;
    pod.name = "web-7f9c";
    pod.uid = bed_->pod_uid("shop", "web-7f9c");
    ASSERT_FALSE(pod.uid.empty());
    pod.node = "test-node";
    pod.execs = {{"app", "livenessProbe", probe}};
    pod.container_ids = {{"app", container_}};
    api.control("add", {{"pod", kube_pod(pod)}});
    recorder_ = std::make_unique<Recorder>(
        *bed_, db_, std::vector<std::string>{"--kubeconfig", api.kubeconfig("kubeconfig", {{"tokenFile", api_dir.file("token")}}),
                                            "--metrics", "127.0.0.1:0", "--audit-grace", "2"});
    ASSERT_TRUE(eventually([&] { return metrics().find("\nexecaudit_kube_pods_synced 1\n") != std::string::npos; }))
        << recorder_->log();

    for (int i = 0; i < 3; ++i) exec("probe-" + std::to_string(i), probe);  // every few hundred ms, as a busy probe
    exec("other-argv", {"/bin/cat", "/etc/group"});
    {
        PtyProcess tty(bed_->exec_tty(container_, "probe-on-tty", probe), 24, 80);
        ASSERT_TRUE(tty.wait(30s).has_value());
    }
    ASSERT_TRUE(eventually(
        [&] {
            auto all = list_sessions(db_, {"--all"});
            if (all.size() != 5) return false;
            for (const auto& s : all)
                if (s["attribution"] == "pending") return false;
            return true;
        },
        60s))
        << list_sessions(db_, {"--all"}).dump(1) << recorder_->log();

    auto probes = list_sessions(db_, {"--entered-via", "probe"});
    ASSERT_EQ(probes.size(), 3u) << list_sessions(db_, {"--all"}).dump(1);
    for (const auto& s : probes) {
        EXPECT_EQ(s["attribution"], "kubelet");
        EXPECT_EQ(s["command"], probe);
        EXPECT_FALSE(s["tty"].get<bool>());
    }
    // `sessions` shows the two look-alikes, not the kubelet's runs
    auto shown = list_sessions(db_);
    ASSERT_EQ(shown.size(), 2u) << shown.dump(1);
    for (const auto& s : shown) EXPECT_EQ(s["attribution"], "unattributed") << s.dump();
    std::string log = recorder_->log();
    EXPECT_NE(log.find("not the kubelet's: the argv of the liveness probe on a tty"), std::string::npos) << log;
    EXPECT_EQ(log.find("FINDING: session " + probes[0]["id"].get<std::string>()), std::string::npos) << "no finding";
    EXPECT_EQ(recorder_->stop(), 0);
}

TEST_F(KubeletExecTest, WithoutThePodsSpecAProbeLikeRunIsAFindingThatSaysSo) {
    recorder_ = std::make_unique<Recorder>(*bed_, db_, std::vector<std::string>{"--audit-grace", "1"});
    exec("probe-like", {"/bin/cat", "/etc/passwd"});
    ASSERT_TRUE(eventually([&] {
        auto all = list_sessions(db_, {"--all"});
        return all.size() == 1 && all[0]["attribution"] == "unattributed";
    }, 60s)) << recorder_->log();
    EXPECT_TRUE(eventually([&] { return recorder_->log().find("pod spec unknown") != std::string::npos; }))
        << recorder_->log();
    EXPECT_EQ(recorder_->stop(), 0);
}

}  // namespace
