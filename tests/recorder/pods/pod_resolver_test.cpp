// Pod names from the node alone: the cgroup path, then the kubelet's log names.
#include "recorder/pods/pod_resolver.h"
#include "tests/support/environment.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace execaudit::recorder;
namespace fs = std::filesystem;

namespace {

const std::string kUid = "0b8d9c2e-6f1a-4c3b-9e2d-7a5f4b3c2d1e";
const std::string kId = "4f2a0c6b9e1d3f5a7c8b0e2d4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f2a";
const std::string kOtherId = "aaaa0c6b9e1d3f5a7c8b0e2d4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f2a";

class PodResolverTest : public ::testing::Test {
protected:
    void SetUp() override {
        fs::create_directories(pods_);
        fs::create_directories(containers_);
    }
    void touch(const std::string& p) {
        fs::create_directories(fs::path(p).parent_path());
        std::ofstream(p) << "";
    }
    PodIdentity resolve(const std::string& path) {
        CgroupFs unused(dir_.path());
        PodResolver r(unused, {pods_, containers_});
        return r.resolve_path(path);
    }
    execaudit::testing::TempDir dir_;
    std::string pods_ = dir_.file("pods");
    std::string containers_ = dir_.file("containers");
};

TEST_F(PodResolverTest, FromContainerLogName) {
    touch(containers_ + "/api-7f9c_payments_app-" + kId + ".log");
    touch(containers_ + "/api-7f9c_payments_sidecar-" + kOtherId + ".log");
    auto p = resolve("/kubepods/burstable/pod" + kUid + "/" + kId);
    EXPECT_EQ(p.namespace_name, "payments");
    EXPECT_EQ(p.pod, "api-7f9c");
    EXPECT_EQ(p.container, "app");
    EXPECT_EQ(p.pod_uid, kUid);
    EXPECT_EQ(p.container_id, kId);
}

TEST_F(PodResolverTest, FallsBackToThePodLogDirectory) {
    touch(pods_ + "/payments_api-7f9c_" + kUid + "/app/0.log");
    auto p = resolve("/kubepods/burstable/pod" + kUid + "/" + kId);
    EXPECT_EQ(p.namespace_name, "payments");
    EXPECT_EQ(p.pod, "api-7f9c");
    EXPECT_EQ(p.container, "app");  // the pod's only container
}

TEST_F(PodResolverTest, NeverGuessesAmongSeveralContainers) {
    touch(pods_ + "/payments_api-7f9c_" + kUid + "/app/0.log");
    touch(pods_ + "/payments_api-7f9c_" + kUid + "/sidecar/0.log");
    auto p = resolve("/kubepods/burstable/pod" + kUid + "/" + kId);
    EXPECT_EQ(p.pod, "api-7f9c");
    EXPECT_EQ(p.container, "");
}

TEST_F(PodResolverTest, UnknownLayoutsKeepThePath) {
    auto p = resolve("/system.slice/sshd.service");
    EXPECT_EQ(p.cgroup_path, "/system.slice/sshd.service");
    EXPECT_EQ(p.pod, "");
    auto q = resolve("/kubepods/burstable/pod" + kUid + "/" + kId);  // no log names at all
    EXPECT_EQ(q.pod_uid, kUid);
    EXPECT_EQ(q.pod, "");
}

}  // namespace
