#include "recorder/pods/pod_spec.h"

#include <gtest/gtest.h>

using namespace execaudit::recorder;

namespace {

// The shape the API server returns for a Deployment's pod (trimmed to what is read).
const char* kPod = R"({"kind":"Pod","apiVersion":"v1",
 "metadata":{"name":"api-7f9c5d8b-x2k4q","namespace":"payments","uid":"0b8d9c2e-6f1a-4c3b-9e2d-7a5f4b3c2d1e",
   "resourceVersion":"4711","labels":{"app":"api","pod-template-hash":"7f9c5d8b"},
   "ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"api-7f9c5d8b","uid":"u1",
                       "controller":true,"blockOwnerDeletion":true}]},
 "spec":{"nodeName":"node-1","serviceAccountName":"api",
   "containers":[{"name":"app","image":"x",
     "livenessProbe":{"exec":{"command":["/bin/sh","-c","test -f /tmp/ok"]},"periodSeconds":10},
     "readinessProbe":{"httpGet":{"path":"/","port":80}},
     "startupProbe":{"exec":{"command":["cat","/tmp/started"]}},
     "lifecycle":{"postStart":{"exec":{"command":["touch","/tmp/ok"]}},"preStop":{"sleep":{"seconds":1}}}}],
   "initContainers":[{"name":"init","image":"y"}]}})";

TEST(PodSpec, ReadsIdentityProbesAndHooks) {
    std::string error;
    auto pod = parse_pod(kPod, error);
    ASSERT_TRUE(pod) << error;
    EXPECT_EQ(pod->namespace_name, "payments");
    EXPECT_EQ(pod->uid, "0b8d9c2e-6f1a-4c3b-9e2d-7a5f4b3c2d1e");
    EXPECT_EQ(pod->node_name, "node-1");
    EXPECT_EQ(pod->service_account, "api");
    EXPECT_EQ(pod->labels.at("app"), "api");
    ASSERT_TRUE(pod->owner);
    EXPECT_EQ(*pod->owner, (OwnerRef{"ReplicaSet", "api-7f9c5d8b"}));
    EXPECT_EQ(*pod->workload, (OwnerRef{"Deployment", "api"}));
    const ContainerSpec* app = pod->container("app");
    ASSERT_TRUE(app);
    ASSERT_EQ(app->execs.size(), 3u);  // httpGet and sleep run nothing in the container
    EXPECT_EQ(app->execs[0].name, "liveness");
    EXPECT_EQ(app->execs[0].argv, (std::vector<std::string>{"/bin/sh", "-c", "test -f /tmp/ok"}));
    EXPECT_EQ(app->execs[1].name, "startup");
    EXPECT_EQ(app->execs[2].kind, KubeletExec::Kind::hook);
    EXPECT_EQ(app->execs[2].name, "postStart");
    ASSERT_TRUE(pod->container("init"));
    EXPECT_TRUE(pod->container("init")->execs.empty());
}

PodInfo owned_by(std::string kind, std::string name) {
    PodInfo pod;
    pod.name = "p";
    pod.owner = OwnerRef{std::move(kind), std::move(name)};
    return pod;
}

TEST(PodSpec, WorkloadAsTetragonDerivesIt) {
    PodInfo bare;
    bare.name = "solo";
    EXPECT_EQ(*derive_workload(bare, false), (OwnerRef{"Pod", "solo"}));
    EXPECT_FALSE(derive_workload(bare, true));  // owners, none of them the controller
    EXPECT_EQ(*derive_workload(owned_by("StatefulSet", "db"), true), (OwnerRef{"StatefulSet", "db"}));
    EXPECT_EQ(*derive_workload(owned_by("DaemonSet", "agent"), true), (OwnerRef{"DaemonSet", "agent"}));
    EXPECT_EQ(*derive_workload(owned_by("Job", "backup-28734520"), true), (OwnerRef{"CronJob", "backup"}));
    EXPECT_EQ(*derive_workload(owned_by("Job", "a-b-1234567890"), true), (OwnerRef{"CronJob", "a-b"}));
    EXPECT_EQ(*derive_workload(owned_by("Job", "once-1234567"), true), (OwnerRef{"Job", "once-1234567"}));
    EXPECT_EQ(*derive_workload(owned_by("Job", "x-12345678901"), true), (OwnerRef{"Job", "x-12345678901"}));
    EXPECT_EQ(*derive_workload(owned_by("ReplicaSet", "bare-rs"), true), (OwnerRef{"ReplicaSet", "bare-rs"}));
}

TEST(PodSpec, RefusesWhatIsNotAPodOrBreaksALimit) {
    std::string error;
    EXPECT_FALSE(parse_pod("not json", error));
    EXPECT_FALSE(parse_pod(R"({"kind":"Status","code":410})", error));
    EXPECT_FALSE(parse_pod(R"({"metadata":{"name":"p"},"spec":{}})", error));  // no uid
    EXPECT_FALSE(parse_pod(R"({"metadata":{"name":"p","uid":"u","labels":[1]},"spec":{}})", error));
    EXPECT_FALSE(parse_pod(
        R"({"metadata":{"name":"p","uid":"u"},"spec":{"containers":[{"name":"c","livenessProbe":{"exec":{"command":[1]}}}]}})",
        error));
    EXPECT_FALSE(parse_pod(R"({"metadata":{"name":"p","uid":"u"},"spec":{"containers":{}}})", error));
    PodLimits small;
    small.max_argv = 2;
    EXPECT_FALSE(parse_pod(kPod, error, small));
    EXPECT_NE(error.find("limit"), std::string::npos) << error;
}

}  // namespace

namespace {

TEST(PodSpec, ContainerIdsFromTheStatusAndTheMirrorOfAStaticPod) {
    std::string error;
    auto pod = parse_pod(R"({"kind":"Pod","metadata":{"name":"etcd-n1","namespace":"kube-system","uid":"m1",
        "annotations":{"kubernetes.io/config.mirror":"9f1c0e"}},
      "spec":{"containers":[{"name":"etcd"},{"name":"etcd2"}]},
      "status":{"containerStatuses":[{"name":"etcd","containerID":"containerd://abc123"},
                                     {"name":"nope","containerID":"containerd://fff"}]}})",
                         error);
    ASSERT_TRUE(pod) << error;
    EXPECT_EQ(pod->mirror_of, "9f1c0e");
    ASSERT_TRUE(pod->container_by_id("abc123"));
    EXPECT_EQ(pod->container_by_id("abc123")->name, "etcd");
    EXPECT_FALSE(pod->container_by_id("fff")) << "a status for a container the spec does not have";
    EXPECT_FALSE(pod->container_by_id("")) << "a container without status matches no empty ID";
}

}  // namespace
