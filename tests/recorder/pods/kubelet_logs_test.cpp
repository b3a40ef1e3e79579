#include "recorder/pods/kubelet_logs.h"

#include <gtest/gtest.h>

using namespace execaudit::recorder;

namespace {

const std::string kId = "4f2a0c6b9e1d3f5a7c8b0e2d4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f2a";

TEST(KubeletLogs, PodLogDir) {
    auto p = parse_pod_log_dir("payments_api-7f9c-5d8b_0b8d9c2e-6f1a-4c3b-9e2d-7a5f4b3c2d1e");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->namespace_name, "payments");
    EXPECT_EQ(p->pod, "api-7f9c-5d8b");
    EXPECT_EQ(p->pod_uid, "0b8d9c2e-6f1a-4c3b-9e2d-7a5f4b3c2d1e");
}

TEST(KubeletLogs, PodNamesMayHoldDots) {
    auto p = parse_pod_log_dir("kube-system_etcd-node1.example.com_7c9d1f0e2a3b4c5d6e7f8a9b0c1d2e3f");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->pod, "etcd-node1.example.com");
}

TEST(KubeletLogs, ContainerLogName) {
    auto c = parse_container_log_name("api-7f9c-5d8b_payments_app-" + kId + ".log");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->pod, "api-7f9c-5d8b");
    EXPECT_EQ(c->namespace_name, "payments");
    EXPECT_EQ(c->container, "app");
    EXPECT_EQ(c->container_id, kId);
}

TEST(KubeletLogs, ContainerNamesWithDashes) {
    auto c = parse_container_log_name("web_shop_istio-proxy-" + kId + ".log");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->container, "istio-proxy");
}

TEST(KubeletLogs, Rejects) {
    EXPECT_FALSE(parse_pod_log_dir("a_b"));
    EXPECT_FALSE(parse_pod_log_dir("a_b_c_d"));
    EXPECT_FALSE(parse_pod_log_dir("UPPER_pod_0b8d9c2e"));
    EXPECT_FALSE(parse_pod_log_dir("ns_pod_not-a-uid!"));
    EXPECT_FALSE(parse_container_log_name("web_shop_app-" + kId));          // no .log
    EXPECT_FALSE(parse_container_log_name("web_shop_app-XYZ.log"));         // not an id
    EXPECT_FALSE(parse_container_log_name("web_shop_extra_app-" + kId + ".log"));
    EXPECT_FALSE(parse_container_log_name("web_-shop_app-" + kId + ".log"));  // not a DNS label
    EXPECT_FALSE(parse_container_log_name(std::string("web_sh\0op_app-", 14) + kId + ".log"));
    EXPECT_FALSE(parse_container_log_name(std::string(10000, '_') + ".log"));
}

TEST(KubeletLogs, DnsNames) {
    EXPECT_TRUE(is_dns_label("a"));
    EXPECT_TRUE(is_dns_label("kube-system"));
    EXPECT_FALSE(is_dns_label("-a"));
    EXPECT_FALSE(is_dns_label("a-"));
    EXPECT_FALSE(is_dns_label(std::string(64, 'a')));
    EXPECT_TRUE(is_dns_subdomain("a.b-c.d"));
    EXPECT_FALSE(is_dns_subdomain("a..b"));
}

}  // namespace
