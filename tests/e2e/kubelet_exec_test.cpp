// The kubelet's own exec probes, played the way the kubelet runs them (a non-tty runc exec through
// containerd, with the probe's exact argv) against a real container whose pod spec the test's API
// server serves: stored as `attribution: kubelet`, `entered_via: probe`, hidden from `sessions`;
// the look-alikes (another argv, the probe's argv on a tty) stay findings and say why. Identical
// runs are folded by the recorder's retention into one row that counts them (runs), never a
// look-alike, and `verify` passes on the folded database.
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
                                            "--metrics", "127.0.0.1:0", "--audit-grace", "2", "--retention-interval", "1"});
    ASSERT_TRUE(eventually([&] { return metrics().find("\nexecaudit_kube_pods_synced 1\n") != std::string::npos; }))
        << recorder_->log();

    for (int i = 0; i < 3; ++i) exec("probe-" + std::to_string(i), probe);  // every few hundred ms, as a busy probe
    exec("other-argv", {"/bin/cat", "/etc/group"});
    {
        PtyProcess tty(bed_->exec_tty(container_, "probe-on-tty", probe), 24, 80);
        ASSERT_TRUE(tty.wait(30s).has_value());
    }
    // every run judged; the kubelet's three folded into the first of them
    ASSERT_TRUE(eventually(
        [&] {
            auto all = list_sessions(db_, {"--all"});
            if (all.size() != 3) return false;
            for (const auto& s : all)
                if (s["attribution"] == "pending") return false;
            return true;
        },
        60s))
        << list_sessions(db_, {"--all"}).dump(1) << recorder_->log();

    auto probes = list_sessions(db_, {"--entered-via", "probe"});
    ASSERT_EQ(probes.size(), 1u) << list_sessions(db_, {"--all"}).dump(1);
    const auto& folded = probes[0];
    EXPECT_EQ(folded["attribution"], "kubelet");
    EXPECT_EQ(folded["command"], probe);
    EXPECT_FALSE(folded["tty"].get<bool>());
    EXPECT_EQ(folded["runs"], 3) << folded.dump(1);
    EXPECT_FALSE(folded["last_run"].is_null()) << folded.dump(1);
    EXPECT_FALSE(folded["run_max_us"].is_null()) << folded.dump(1);
    // the table counts them, and `show` says what the row stands for
    auto table = run({execaudit_bin(), "sessions", "--db", db_, "--entered-via", "probe"});
    EXPECT_NE(table.out.find("RUNS"), std::string::npos) << table.out;
    auto shown_one = run({execaudit_bin(), "show", "--db", db_, folded["id"].get<std::string>()});
    EXPECT_NE(shown_one.out.find("Runs         3 (the kubelet's identical runs"), std::string::npos) << shown_one.out;
    // each folded run is a tombstone the ledger vouches for: verify passes and says so
    auto verified = run({execaudit_bin(), "verify", "--db", db_});
    EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
    EXPECT_NE(verified.out.find("2 later kubelet runs folded into this row"), std::string::npos) << verified.out;
    EXPECT_TRUE(eventually([&] {  // counted once the pass is over
        return metrics().find("execaudit_retention_deleted_sessions_total{cause=\"folded\"} 2\n") != std::string::npos;
    })) << metrics();

    // `sessions` shows the two look-alikes, not the kubelet's runs
    auto shown = list_sessions(db_);
    ASSERT_EQ(shown.size(), 2u) << shown.dump(1);
    for (const auto& s : shown) EXPECT_EQ(s["attribution"], "unattributed") << s.dump();
    std::string log = recorder_->log();
    EXPECT_NE(log.find("not the kubelet's: the argv of the liveness probe on a tty"), std::string::npos) << log;
    EXPECT_EQ(log.find("FINDING: session " + folded["id"].get<std::string>()), std::string::npos) << "no finding";
    EXPECT_EQ(recorder_->stop(), 0);
}

// The person recorded floods this node with pods bound to it (spec.nodeName), for the recorder to grow
// until the kernel kills it. The pods kept stay bounded, and it fails closed: an exec into a pod past
// the bound, even with its probe's exact argv, is a finding that says the spec is unknown.
TEST_F(KubeletExecTest, APodPastTheCacheBoundIsJudgedAsOneWhoseSpecIsUnknown) {
    TempDir api_dir;
    std::ofstream(api_dir.file("token")) << "agent-token\n";
    KubeApiServer api(api_dir.path(), "agent-token");
    nlohmann::json pods = nlohmann::json::array();
    for (int i = 0; i < 1500; ++i) {
        KubePodSpec p;
        p.name = "flood-" + std::to_string(i);
        p.uid = "00000000-0000-4000-8000-" + std::string(12 - std::to_string(i).size(), '0') + std::to_string(i);
        p.node = "test-node";
        p.labels = {{"padding", std::string(2000, 'p')}};
        pods.push_back(kube_pod(p));
    }
    const std::vector<std::string> probe = {"/bin/cat", "/etc/passwd"};
    KubePodSpec pod;
    pod.name = "web-7f9c";
    pod.uid = bed_->pod_uid("shop", "web-7f9c");
    ASSERT_FALSE(pod.uid.empty());
    pod.node = "test-node";
    pod.execs = {{"app", "livenessProbe", probe}};
    pod.container_ids = {{"app", container_}};
    pod.labels = {{"padding", std::string(2000, 'p')}};  // as large as the flood's: no room is left that it fits
    pods.push_back(kube_pod(pod));  // listed last: past the bound
    api.control("add", {{"pods", pods}});
    recorder_ = std::make_unique<Recorder>(
        *bed_, db_, std::vector<std::string>{"--kubeconfig", api.kubeconfig("kubeconfig", {{"tokenFile", api_dir.file("token")}}),
                                            "--metrics", "127.0.0.1:0", "--audit-grace", "1", "--kube-max-cache-mb", "1"});
    ASSERT_TRUE(eventually([&] { return metrics().find("\nexecaudit_kube_pods_synced 1\n") != std::string::npos; }))
        << recorder_->log();
    ASSERT_EQ(metrics().find("\nexecaudit_kube_pods_over_budget_total 0\n"), std::string::npos) << metrics();
    exec("probe-after-flood", probe);
    ASSERT_TRUE(eventually([&] {
        auto all = list_sessions(db_, {"--all"});
        return all.size() == 1 && all[0]["attribution"] == "unattributed";
    }, 60s)) << recorder_->log() << list_sessions(db_, {"--all"}).dump();
    EXPECT_TRUE(eventually([&] { return recorder_->log().find("pod spec unknown") != std::string::npos; }))
        << recorder_->log();
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
