#include "recorder/pods/cgroup_path.h"

#include <gtest/gtest.h>

using execaudit::recorder::parse_container_cgroup;

namespace {

const std::string kUid = "0b8d9c2e-6f1a-4c3b-9e2d-7a5f4b3c2d1e";
const std::string kUidUnderscored = "0b8d9c2e_6f1a_4c3b_9e2d_7a5f4b3c2d1e";
const std::string kId = "4f2a0c6b9e1d3f5a7c8b0e2d4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f2a";

TEST(CgroupPath, CgroupfsBestEffortContainerd) {
    auto c = parse_container_cgroup("/kubepods/besteffort/pod" + kUid + "/" + kId);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->pod_uid, kUid);
    EXPECT_EQ(c->container_id, kId);
    EXPECT_EQ(c->qos, "besteffort");
    EXPECT_EQ(c->runtime, "");
    EXPECT_EQ(c->container_path, "/kubepods/besteffort/pod" + kUid + "/" + kId);
}

// A static pod (etcd, kube-apiserver on a control-plane node): its UID is its manifest's md5.
TEST(CgroupPath, StaticPodUidIsAnMd5) {
    const std::string md5 = "6f8ad3c07e1b4d2a9c5e0f1b2a3d4c5e";
    auto c = parse_container_cgroup("/kubepods/burstable/pod" + md5 + "/" + kId);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->pod_uid, md5);
    auto sd = parse_container_cgroup("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + md5 +
                                     ".slice/cri-containerd-" + kId + ".scope");
    ASSERT_TRUE(sd);
    EXPECT_EQ(sd->pod_uid, md5);
    EXPECT_FALSE(parse_container_cgroup("/kubepods/burstable/pod" + md5.substr(0, 31) + "/" + kId));
    EXPECT_FALSE(parse_container_cgroup("/kubepods/burstable/pod" + md5.substr(0, 31) + "x/" + kId));
}

TEST(CgroupPath, CgroupfsGuaranteedHasNoQosLevel) {
    auto c = parse_container_cgroup("/kubepods/pod" + kUid + "/" + kId);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->qos, "guaranteed");
    EXPECT_EQ(c->container_id, kId);
}

TEST(CgroupPath, CgroupfsCrio) {
    auto c = parse_container_cgroup("/kubepods/burstable/pod" + kUid + "/crio-" + kId);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->runtime, "crio");
    EXPECT_EQ(c->container_id, kId);
    EXPECT_EQ(c->qos, "burstable");
}

TEST(CgroupPath, SystemdContainerd) {
    auto c = parse_container_cgroup("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
                                    kUidUnderscored + ".slice/cri-containerd-" + kId + ".scope");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->pod_uid, kUid);  // underscores back to dashes
    EXPECT_EQ(c->container_id, kId);
    EXPECT_EQ(c->runtime, "containerd");
    EXPECT_EQ(c->qos, "burstable");
}

TEST(CgroupPath, SystemdCrioAndDockerAndGuaranteed) {
    auto crio = parse_container_cgroup("/kubepods.slice/kubepods-pod" + kUidUnderscored + ".slice/crio-" + kId + ".scope");
    ASSERT_TRUE(crio);
    EXPECT_EQ(crio->runtime, "crio");
    EXPECT_EQ(crio->qos, "guaranteed");
    auto docker = parse_container_cgroup("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
                                         kUidUnderscored + ".slice/docker-" + kId + ".scope");
    ASSERT_TRUE(docker);
    EXPECT_EQ(docker->runtime, "docker");
    EXPECT_EQ(docker->qos, "besteffort");
}

TEST(CgroupPath, KubeletCgroupRootPrefixes) {
    auto cgroupfs = parse_container_cgroup("/kubelet/kubepods/besteffort/pod" + kUid + "/" + kId);
    ASSERT_TRUE(cgroupfs);
    EXPECT_EQ(cgroupfs->container_path, "/kubelet/kubepods/besteffort/pod" + kUid + "/" + kId);
    auto systemd = parse_container_cgroup(
        "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" +
        kUidUnderscored + ".slice/cri-containerd-" + kId + ".scope");
    ASSERT_TRUE(systemd);
    EXPECT_EQ(systemd->pod_uid, kUid);
}

TEST(CgroupPath, BelowTheContainerStillResolvesToIt) {
    auto c = parse_container_cgroup("/kubepods/besteffort/pod" + kUid + "/" + kId + "/init.scope");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->container_id, kId);
    EXPECT_EQ(c->container_path, "/kubepods/besteffort/pod" + kUid + "/" + kId);
}

TEST(CgroupPath, NotAContainer) {
    EXPECT_FALSE(parse_container_cgroup("/kubepods/besteffort/pod" + kUid));  // the pod itself
    EXPECT_FALSE(parse_container_cgroup("/kubepods/besteffort"));
    EXPECT_FALSE(parse_container_cgroup("/kubepods.slice/kubepods-pod" + kUidUnderscored + ".slice/crio-conmon-" + kId + ".scope"));
    EXPECT_FALSE(parse_container_cgroup("/system.slice/containerd.service"));
    EXPECT_FALSE(parse_container_cgroup("/"));
    EXPECT_FALSE(parse_container_cgroup(""));
    EXPECT_FALSE(parse_container_cgroup("/kubepods/besteffort/podnot-a-uid/" + kId));
    EXPECT_FALSE(parse_container_cgroup("/kubepods/besteffort/pod" + kUid + "/NOTHEX"));
    EXPECT_FALSE(parse_container_cgroup("/kubepods/besteffort/pod" + kUid + "/abc"));  // too short for an id
}

TEST(CgroupPath, HostilePathsNeverCrash) {
    EXPECT_FALSE(parse_container_cgroup(std::string(100000, '/')));
    EXPECT_FALSE(parse_container_cgroup(std::string(100000, 'a')));
    EXPECT_FALSE(parse_container_cgroup("/../../pod" + kUid + "/../" + kId.substr(0, 5)));
    std::string binary("\0\xff/pod\x01/\x1b[2J", 14);
    EXPECT_FALSE(parse_container_cgroup(binary));
}

}  // namespace
