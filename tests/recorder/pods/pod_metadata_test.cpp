// What a session record says of its pod: the workload as Tetragon derives it, and labels bounded
// (a pod's creator chooses them) with what was cut counted.
#include "recorder/pods/pod_metadata.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace execaudit::recorder;

namespace {

PodInfo parsed(const std::string& json) {
    std::string error;
    auto pod = parse_pod(json, error);
    if (!pod) throw std::runtime_error(error);
    return *pod;
}

std::string pod_json(const std::string& labels, const std::string& owners) {
    return R"({"metadata":{"name":"p-1","namespace":"ns","uid":"u-1","labels":)" + labels +
           R"(,"ownerReferences":)" + owners + R"(},"spec":{"serviceAccountName":"sa","containers":[{"name":"c"}]}})";
}

TEST(PodMetadata, DeploymentPodThroughItsReplicaSet) {
    auto m = pod_metadata(parsed(pod_json(R"({"app":"web","pod-template-hash":"5d8f7c9b6"})",
                                          R"([{"kind":"ReplicaSet","name":"web-5d8f7c9b6","controller":true}])")));
    EXPECT_EQ(nlohmann::json::parse(m.labels_json),
              (nlohmann::json{{"app", "web"}, {"pod-template-hash", "5d8f7c9b6"}}));
    EXPECT_EQ(m.labels_dropped, 0u);
    EXPECT_EQ(m.owner_kind, "ReplicaSet");
    EXPECT_EQ(m.owner_name, "web-5d8f7c9b6");
    EXPECT_EQ(m.workload_kind, "Deployment");
    EXPECT_EQ(m.workload_name, "web");
    EXPECT_EQ(m.service_account, "sa");
}

TEST(PodMetadata, WorkloadRules) {
    auto workload = [](const std::string& labels, const std::string& owners) {
        auto m = pod_metadata(parsed(pod_json(labels, owners)));
        return m.workload_kind + "/" + m.workload_name;
    };
    // a hyphenated Deployment name: only the hash suffix goes
    EXPECT_EQ(workload(R"({"pod-template-hash":"abc12"})", R"([{"kind":"ReplicaSet","name":"my-web-app-abc12","controller":true}])"),
              "Deployment/my-web-app");
    // a ReplicaSet of its own (no pod-template-hash): itself
    EXPECT_EQ(workload("{}", R"([{"kind":"ReplicaSet","name":"rs-1","controller":true}])"), "ReplicaSet/rs-1");
    // the Job a CronJob made names its scheduled minute: <cronjob>-<8 to 10 digits>
    EXPECT_EQ(workload("{}", R"([{"kind":"Job","name":"nightly-backup-28734520","controller":true}])"), "CronJob/nightly-backup");
    EXPECT_EQ(workload("{}", R"([{"kind":"Job","name":"migrate-v2","controller":true}])"), "Job/migrate-v2");
    EXPECT_EQ(workload("{}", R"([{"kind":"StatefulSet","name":"db","controller":true}])"), "StatefulSet/db");
    EXPECT_EQ(workload("{}", R"([{"kind":"DaemonSet","name":"agent","controller":true}])"), "DaemonSet/agent");
    EXPECT_EQ(workload("{}", "[]"), "Pod/p-1");  // a bare pod stands for itself
    // owners, but no controller among them: neither owner nor workload is claimed
    auto m = pod_metadata(parsed(pod_json("{}", R"([{"kind":"ConfigMap","name":"x"}])")));
    EXPECT_EQ(m.owner_kind, "");
    EXPECT_EQ(m.workload_kind, "");
}

TEST(PodMetadata, LabelsAreBoundedLargestCutFirstAndCounted) {
    nlohmann::json labels = {{"app", "web"}, {"tier", "front"}};
    for (int i = 0; i < 10; ++i) labels["huge-" + std::to_string(i)] = std::string(1000, 'x');
    auto m = pod_metadata(parsed(pod_json(labels.dump(), "[]")), LabelBound{.max_bytes = 4096});
    auto kept = nlohmann::json::parse(m.labels_json);
    EXPECT_EQ(kept["app"], "web");  // the short ones a SIEM queries survive
    EXPECT_EQ(kept["tier"], "front");
    EXPECT_EQ(kept.size(), 2u + 4u);  // 4 of the 1006-byte ones fit with them in 4 KiB
    EXPECT_EQ(m.labels_dropped, 6u);
    EXPECT_LE(m.labels_json.size(), 4096u + 64u * 8);  // the bound, plus JSON's quotes and commas
}

TEST(PodMetadata, KeysTheApiServerWouldRefuseAreCutAndCounted) {
    auto m = pod_metadata(parsed(pod_json(R"({"app":"web","a=b":"c","":"empty"})", "[]")));
    EXPECT_EQ(nlohmann::json::parse(m.labels_json), (nlohmann::json{{"app", "web"}}));
    EXPECT_EQ(m.labels_dropped, 2u);
}

}  // namespace
