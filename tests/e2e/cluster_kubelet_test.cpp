// The kubelet's own exec probes in cluster mode: the node's recorder judges each ended exec by the
// pod spec its API server serves (tests/support/kube_api_server.py) and uploads the judgement with
// the session's end; the leading collector, which alone knows the API's requests, makes a probe
// run `kubelet` (entered via probe) and a look-alike a finding with the reason. A person's audited
// exec with the probe's exact argv is that person's session, never the kubelet's: also when the
// node had already called it a probe run itself before the collector heard of it.
#include "tests/support/cluster_test.h"
#include "tests/support/kube_api.h"

#include <gtest/gtest.h>

#include <fstream>

namespace execaudit::testing {
namespace {
using json = nlohmann::json;

const std::vector<std::string> kProbe = {"/bin/cat", "/etc/passwd"};

class ClusterKubelet : public ClusterTest {
protected:
    // No clock skew between API server and node here (one machine): carol's request is a candidate
    // for the runs within its window only, not for a probe run a second before it (that would be
    // `ambiguous`, rightly, on a real node whose clock may be off).
    std::vector<std::string> collector_args() const override { return {"--audit-grace", "3", "--audit-skew", "0"}; }
    void SetUp() override {
        ClusterTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        std::ofstream(api_dir_.file("token")) << "agent-token\n";
        api_ = std::make_unique<KubeApiServer>(api_dir_.path(), "agent-token");
        KubePodSpec pod;
        pod.name = "web-7f9c";
        pod.uid = bed_->pod_uid("shop", "web-7f9c");
        ASSERT_FALSE(pod.uid.empty());
        pod.node = "test-node";
        pod.execs = {{"app", "livenessProbe", kProbe}};
        pod.container_ids = {{"app", container_}};
        api_->control("add", {{"pod", kube_pod(pod)}});
    }
    /// The node's recorder, uploading to collector 0, knowing the pods; its own correlator's grace `grace`.
    void start_recorder(const std::string& grace) {
        auto args = recorder_args();
        args.insert(args.end(), {"--kubeconfig", api_->kubeconfig("kubeconfig", {{"tokenFile", api_dir_.file("token")}}),
                                 "--metrics", "127.0.0.1:0", "--audit-grace", grace});
        recorder_ = std::make_unique<Recorder>(*bed_, db_, args);
        int port = logged_port(recorder_->log(), "metrics");
        ASSERT_TRUE(eventually([&] {
            auto m = run({"curl", "-s", "http://127.0.0.1:" + std::to_string(port) + "/metrics"}).out;
            return m.find("\nexecaudit_kube_pods_synced 1\n") != std::string::npos;
        })) << recorder_->log();
    }
    void exec(const std::string& id, const std::vector<std::string>& argv) {
        auto r = run(bed_->exec(container_, id, argv), 60s);
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    /// carol's `kubectl exec web-7f9c -- <the probe's argv>` (no tty), audited to collector 1.
    void carol_runs_the_probe(const std::string& audit_id) {
        auto c = call(audit_id, "carol", kProbe, "web-7f9c", false);
        ASSERT_EQ(post_audit(1, {audit_stage(c, "RequestReceived", c.received_ns, 0)}).status, 200);
        int64_t upgraded = now_ns();
        exec("carol-1", kProbe);
        auto r = post_audit(1, {audit_stage(c, "ResponseStarted", upgraded, 101), audit_stage(c, "ResponseComplete", now_ns(), 101)});
        ASSERT_EQ(r.status, 200) << r.body;
    }
    /// Waits until the cluster store holds `n` sessions, every one decided.
    json decided(size_t n) {
        json all;
        bool ok = eventually([&] {
            all = cluster({"sessions", "--all"});
            if (all.size() != n) return false;
            for (const auto& s : all)
                if (s["attribution"] == "pending") return false;
            return true;
        }, 60s);
        EXPECT_TRUE(ok) << all.dump(1) << logs();
        return all;
    }
    std::string leader_log() {
        int l = leader();
        return l >= 0 ? collectors_[l]->log() : "";
    }

    TempDir api_dir_;
    std::unique_ptr<KubeApiServer> api_;
};

TEST_F(ClusterKubelet, ProbeRunsAreTheKubeletsAtTheCollectorAndAPersonsAuditedRunIsTheirs) {
    for (int i = 0; i < 2; ++i) start_collector(i);
    start_recorder("2");
    ASSERT_TRUE(eventually([&] { return leader() >= 0; }, 30s)) << logs();

    for (int i = 0; i < 2; ++i) exec("probe-" + std::to_string(i), kProbe);
    exec("other-argv", {"/bin/cat", "/etc/group"});
    {
        PtyProcess tty(bed_->exec_tty(container_, "probe-on-tty", kProbe), 24, 80);
        ASSERT_TRUE(tty.wait(30s).has_value());
    }
    carol_runs_the_probe("ca201000-0000-4000-8000-0000000000c1");
    json all = decided(5);
    ASSERT_FALSE(HasFailure());

    auto probes = cluster({"sessions", "--entered-via", "probe"});
    ASSERT_EQ(probes.size(), 2u) << all.dump(1);
    for (const auto& s : probes) {
        EXPECT_EQ(s["attribution"], "kubelet");
        EXPECT_EQ(s["node"], "test-node");
        EXPECT_EQ(s["command"], kProbe);
        EXPECT_FALSE(s["tty"].get<bool>());
    }
    // `sessions` shows carol's run and the two look-alikes, not the kubelet's
    auto shown = cluster({"sessions"});
    ASSERT_EQ(shown.size(), 3u) << shown.dump(1);
    json carol = cluster_session_of("carol");
    EXPECT_EQ(carol["attribution"], "audit");
    EXPECT_EQ(carol["command"], kProbe);
    EXPECT_NE(carol["entered_via"], "probe");
    EXPECT_EQ(cluster({"sessions", "--unattributed"}).size(), 2u) << shown.dump(1);
    // the findings say why the tty run is no probe run; the probe runs are no findings
    std::string log = leader_log();
    EXPECT_NE(log.find("not the kubelet's: the argv of the liveness probe on a tty"), std::string::npos) << logs();
    for (const auto& s : probes)
        EXPECT_EQ(log.find("FINDING: session " + s["id"].get<std::string>()), std::string::npos) << log;
}

TEST_F(ClusterKubelet, ANodesOwnProbeVerdictUploadedLateNeverOutweighsTheAuditedRequest) {
    // The node uploads to replica 0 and has said which pods it hosts; then replica 0 goes away.
    // The API server's webhook reaches replica 1, which holds carol's request for the node.
    for (int i = 0; i < 2; ++i) start_collector(i);
    start_recorder("1");
    ASSERT_TRUE(eventually([&] { return pg_->query("SELECT pods_json FROM nodes").find("shop/web-7f9c") != std::string::npos; }, 30s))
        << logs();
    collectors_[0]->kill();
    ASSERT_TRUE(eventually([&] { return leader() == 1; }, 30s)) << logs();
    carol_runs_the_probe("ca201000-0000-4000-8000-0000000000c2");
    exec("probe-0", kProbe);
    // the node knows no requests: its own correlator calls both the kubelet's, before any upload
    ASSERT_TRUE(eventually([&] { return list_sessions(db_, {"--entered-via", "probe"}).size() == 2; }, 30s))
        << list_sessions(db_, {"--all"}).dump(1) << recorder_->log();
    EXPECT_EQ(cluster({"sessions", "--all"}).size(), 0u);

    start_collector(0);
    decided(2);
    ASSERT_FALSE(HasFailure());
    json carol = cluster_session_of("carol");
    EXPECT_EQ(carol["attribution"], "audit") << cluster({"sessions", "--all"}).dump(1) << logs();
    EXPECT_NE(carol["entered_via"], "probe");
    auto probes = cluster({"sessions", "--entered-via", "probe"});
    ASSERT_EQ(probes.size(), 1u) << cluster({"sessions", "--all"}).dump(1);
    EXPECT_EQ(probes[0]["attribution"], "kubelet");
}

}  // namespace
}  // namespace execaudit::testing
