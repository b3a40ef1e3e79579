// Pods from the API server (issue 17): the real `execaudit record --kubeconfig` against the tests'
// real HTTPS list/watch server (tests/support/kube_api_server.py) holding N pods of this node
// (5,000; smoke 200), each a realistic ~3 KB Pod. How long the list takes (recorder start to
// execaudit_kube_pods_cached N), the peak RSS (VmHWM) it costs over the same recorder with 0 pods,
// and the peak RSS after watch bursts of N MODIFIED events each (status-only, then label changes): it
// must stop growing once the pod cache holds all the versions it keeps.
#include "bench/figures.h"
#include "tests/support/audit_fixtures.h"
#include "tests/support/kube_api.h"
#include "tests/support/process.h"
#include "tests/support/testbed.h"

#include <fmt/format.h>

#include <fstream>

namespace execaudit::bench {
using namespace execaudit::testing;

namespace {

/// A Pod as a Deployment's ReplicaSet makes it: labels, an owner, annotations, env, resources,
/// volumes, and exec liveness/readiness probes (~3 KB as JSON).
nlohmann::json realistic_pod(int i, const std::string& rev, int status_generation = 0) {
    KubePodSpec s;
    s.ns = fmt::format("team-{}", i % 40);
    s.name = fmt::format("svc-{}-5d8f7c9b6-{:05d}", i % 200, i);
    s.uid = fmt::format("{:08x}-1b2c-4d3e-8f90-{:012x}", i, i * 7919);
    s.node = "test-node";
    s.owner_kind = "ReplicaSet";
    s.owner_name = fmt::format("svc-{}-5d8f7c9b6", i % 200);
    s.service_account = fmt::format("svc-{}", i % 200);
    s.labels = {{"app", fmt::format("svc-{}", i % 200)}, {"app.kubernetes.io/part-of", "shop"},
                {"app.kubernetes.io/version", "1.24.3"}, {"tier", "backend"}, {"rev", rev}};
    s.execs = {{"app", "livenessProbe", {"sh", "-c", "cat /tmp/healthy"}},
               {"app", "readinessProbe", {"/bin/grpc_health_probe", "-addr=:8080", "-connect-timeout=2s"}}};
    auto pod = kube_pod(s);
    auto& meta = pod["metadata"];
    meta["annotations"] = {{"kubectl.kubernetes.io/restartedAt", "2026-12-01T09:00:00Z"},
                           {"prometheus.io/scrape", "true"}, {"prometheus.io/port", "9090"}};
    meta["generateName"] = s.owner_name + "-";
    auto& c = pod["spec"]["containers"][0];
    c["ports"] = nlohmann::json::array({{{"containerPort", 8080}, {"protocol", "TCP"}, {"name", "grpc"}}});
    nlohmann::json env = nlohmann::json::array();
    for (int e = 0; e < 12; ++e)
        env.push_back({{"name", fmt::format("SETTING_{}", e)}, {"value", fmt::format("value-of-setting-{}-for-{}", e, s.name)}});
    c["env"] = env;
    c["resources"] = {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}, {"limits", {{"cpu", "1"}, {"memory", "512Mi"}}}};
    c["volumeMounts"] = nlohmann::json::array({{{"name", "kube-api-access"}, {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"}, {"readOnly", true}},
                                               {{"name", "config"}, {"mountPath", "/etc/app"}}});
    pod["spec"]["volumes"] = nlohmann::json::array({{{"name", "kube-api-access"}, {"projected", {{"defaultMode", 420}}}},
                                                    {{"name", "config"}, {"configMap", {{"name", "app-config"}}}}});
    pod["spec"]["restartPolicy"] = "Always";
    pod["spec"]["terminationGracePeriodSeconds"] = 30;
    pod["spec"]["dnsPolicy"] = "ClusterFirst";
    pod["status"]["conditions"] = nlohmann::json::array();
    for (const char* t : {"Initialized", "Ready", "ContainersReady", "PodScheduled"})
        pod["status"]["conditions"].push_back({{"type", t}, {"status", status_generation % 2 ? "False" : "True"},
                                                {"lastTransitionTime", fmt::format("2026-12-04T10:{:02d}:05Z", status_generation % 60)}});
    pod["status"]["podIP"] = fmt::format("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    pod["status"]["hostIP"] = "192.0.2.10";
    pod["status"]["qosClass"] = "Burstable";
    return pod;
}

double metric(const std::string& body, const std::string& name) {
    std::string key = "\n" + name + " ";
    auto at = body.find(key);
    return at == std::string::npos ? -1 : std::atof(body.c_str() + at + key.size());
}

// Watch bursts: one MODIFIED event for every pod per round. Status rounds change only what the
// agent does not keep (readiness flapping: most of a real cluster's pod events); spec rounds change
// a label, so every pod gets a new version each round. There are more of them than the versions the
// pod cache keeps (docs/pods.md: three), and the last ones must add nothing: memory is bounded.
constexpr int kStatusRounds = 5;
constexpr int kSpecRounds = 8;
constexpr int kSpecRoundsToFill = 4;

struct Run {
    double list_s = 0, hwm_mb = 0;
    double cache_bytes = 0;    // execaudit_kube_cache_bytes after the list
    double status_hwm_mb = 0;  // after the status rounds
    double filled_hwm_mb = 0;  // after kSpecRoundsToFill spec rounds
    double spec_hwm_mb = 0;    // after all of them
};

/// A recorder against an API server holding `pods` pods; `bursts`: then the watch rounds above.
Run run_recorder(const Testbed& bed, const TempDir& dir, int pods, bool bursts, size_t* pod_bytes) {
    std::string api_dir = dir.file(fmt::format("api-{}", pods));
    std::filesystem::create_directories(api_dir);
    std::ofstream(api_dir + "/token") << "agent-token\n";
    KubeApiServer api(api_dir, "agent-token");
    nlohmann::json all = nlohmann::json::array();
    for (int i = 0; i < pods; ++i) all.push_back(realistic_pod(i, "1"));
    if (pod_bytes && pods > 0) *pod_bytes = all.dump().size() / static_cast<size_t>(pods);
    if (pods > 0) api.control("add", {{"pods", all}});
    auto kubeconfig = api.kubeconfig("kubeconfig", {{"tokenFile", api_dir + "/token"}});
    auto start = std::chrono::steady_clock::now();
    Recorder rec(bed, dir.file(fmt::format("pods-{}.db", pods)), {"--kubeconfig", kubeconfig, "--metrics", "127.0.0.1:0"});
    int port = logged_port(rec.log(), "metrics");
    auto scrape = [&] { return run({"curl", "-s", fmt::format("http://127.0.0.1:{}/metrics", port)}).out; };
    auto hwm = [&] { return peak_rss_mb(rec.pid()).value_or(0); };
    Run r;
    if (!eventually([&] { auto m = scrape(); return metric(m, "execaudit_kube_pods_synced") == 1 &&
                                           metric(m, "execaudit_kube_pods_cached") == pods; }, 120s))
        throw std::runtime_error(fmt::format("the recorder did not list {} pods:\n{}", pods, rec.log()));
    r.list_s = seconds_since(start);
    r.hwm_mb = hwm();
    r.cache_bytes = metric(scrape(), "execaudit_kube_cache_bytes");
    if (!bursts) {
        rec.stop();
        return r;
    }
    auto round = [&](const std::string& rev, int status_generation) {
        double before = metric(scrape(), "execaudit_kube_watch_events_total");
        nlohmann::json modified = nlohmann::json::array();
        for (int i = 0; i < pods; ++i) modified.push_back(realistic_pod(i, rev, status_generation));
        api.control("modify", {{"pods", modified}});
        if (!eventually([&] { return metric(scrape(), "execaudit_kube_watch_events_total") >= before + pods; }, 120s))
            throw std::runtime_error("the recorder did not apply a watch burst:\n" + rec.log());
    };
    for (int g = 1; g <= kStatusRounds; ++g) round("1", g);
    r.status_hwm_mb = hwm();
    for (int k = 1; k <= kSpecRounds; ++k) {
        round(std::to_string(k + 1), 0);
        if (k == kSpecRoundsToFill) r.filled_hwm_mb = hwm();
    }
    r.spec_hwm_mb = hwm();
    rec.stop();
    return r;
}

// Churn: whoever may create pods bound to this node may also delete them, as fast as the API server
// takes. A deleted pod is kept ten minutes (a preStop hook is judged late), within the cache's bound
// for history (as much as --kube-max-cache-mb): once it is full, further rounds must add nothing.
constexpr int kChurnRounds = 10;
constexpr int kChurnRoundsToFill = 5;
constexpr int kChurnBoundMb = 2;

struct Churn {
    double filled_hwm_mb = 0, hwm_mb = 0, evicted = 0;
};

Churn run_churn(const Testbed& bed, const TempDir& dir, int pods) {
    std::string api_dir = dir.file("api-churn");
    std::filesystem::create_directories(api_dir);
    std::ofstream(api_dir + "/token") << "agent-token\n";
    KubeApiServer api(api_dir, "agent-token");
    auto kubeconfig = api.kubeconfig("kubeconfig", {{"tokenFile", api_dir + "/token"}});
    Recorder rec(bed, dir.file("pods-churn.db"), {"--kubeconfig", kubeconfig, "--metrics", "127.0.0.1:0",
                                                  "--kube-max-cache-mb", std::to_string(kChurnBoundMb)});
    int port = logged_port(rec.log(), "metrics");
    auto scrape = [&] { return run({"curl", "-s", fmt::format("http://127.0.0.1:{}/metrics", port)}).out; };
    if (!eventually([&] { return metric(scrape(), "execaudit_kube_watch_open") == 1; }, 120s))
        throw std::runtime_error("the recorder did not watch pods:\n" + rec.log());
    Churn c;
    for (int k = 1; k <= kChurnRounds; ++k) {
        nlohmann::json added = nlohmann::json::array(), uids = nlohmann::json::array();
        for (int i = 0; i < pods; ++i) {
            auto pod = realistic_pod(k * pods + i, "1");
            uids.push_back(pod["metadata"]["uid"]);
            added.push_back(std::move(pod));
        }
        api.control("add", {{"pods", added}});
        api.control("delete", {{"uids", uids}});
        if (!eventually([&] { return metric(scrape(), "execaudit_kube_watch_events_total") >= 2.0 * k * pods; }, 120s))
            throw std::runtime_error("the recorder did not apply a churn round:\n" + rec.log());
        if (k == kChurnRoundsToFill) c.filled_hwm_mb = peak_rss_mb(rec.pid()).value_or(0);
    }
    c.hwm_mb = peak_rss_mb(rec.pid()).value_or(0);
    c.evicted = metric(scrape(), "execaudit_kube_deleted_pods_evicted_total");
    rec.stop();
    return c;
}

}  // namespace

void pods_figures(const Scale& scale, Report& report) {
    const int pods = scale.mode == Scale::Mode::smoke ? 200 : 5000;
    TempDir dir;
    Testbed bed;
    bed.run_container("bench", "idle-0", "app");  // the kubelet layout (its cgroup root) exists from the first pod on
    size_t pod_bytes = 0;
    Run empty = run_recorder(bed, dir, 0, false, nullptr);
    Run full = run_recorder(bed, dir, pods, true, &pod_bytes);
    std::string note = fmt::format("{} pods of ~{} B JSON, listed in pages of 500", pods, pod_bytes);
    double mb = full.hwm_mb - empty.hwm_mb;
    report.add({"pods_list_s", full.list_s, "s", Target{Target::Op::at_most, 5}, note + "; recorder start to pods_cached"});
    report.add({"pods_rss_mb", mb, "MB", std::nullopt, fmt::format("VmHWM {:.1f} with them, {:.1f} with none", full.hwm_mb, empty.hwm_mb)});
    report.add({"pods_rss_kb_per_pod", mb * 1024 / pods, "KB", Target{Target::Op::at_most, 8},
                fmt::format("{}; --kube-max-cache-mb counts {:.0f} B a pod", note, full.cache_bytes / pods)});
    report.add({"pods_watch_status_rss_growth_mb", full.status_hwm_mb - full.hwm_mb, "MB", Target{Target::Op::at_most, 2},
                fmt::format("VmHWM after {} rounds of {} status-only MODIFIED events less after the list", kStatusRounds, pods)});
    report.add({"pods_versions_rss_kb_per_pod", (full.spec_hwm_mb - empty.hwm_mb) * 1024 / pods, "KB", Target{Target::Op::at_most, 12},
                fmt::format("VmHWM {:.1f} after {} rounds of {} label changes (three versions of every pod kept), less {:.1f} with none",
                            full.spec_hwm_mb, kSpecRounds, pods, empty.hwm_mb)});
    report.add({"pods_versions_late_growth_mb", full.spec_hwm_mb - full.filled_hwm_mb, "MB", Target{Target::Op::at_most, 1},
                fmt::format("VmHWM after {} label-change rounds less after {}: the cache full, nothing more may grow",
                            kSpecRounds, kSpecRoundsToFill)});
    const int churn_pods = pods / 5;
    Churn churn = run_churn(bed, dir, churn_pods);
    report.add({"pods_churn_late_growth_mb", churn.hwm_mb - churn.filled_hwm_mb, "MB", Target{Target::Op::at_most, 1},
                fmt::format("--kube-max-cache-mb {}: VmHWM after {} rounds of {} pods created and deleted less after {} "
                            "(the history full: {:.0f} deleted pods dropped oldest first)",
                            kChurnBoundMb, kChurnRounds, churn_pods, kChurnRoundsToFill, churn.evicted)});
}

}  // namespace execaudit::bench
