// Where the API server is and how we prove who we are: the in-cluster configuration and a
// kubeconfig's current context, with every error a user can make named.
#include "common/errors.h"
#include "recorder/pods/kube_config.h"
#include "tests/support/environment.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

using namespace execaudit;
using namespace execaudit::recorder;
using execaudit::testing::TempDir;

namespace {

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
    std::ofstream(dir.file(name)) << text;
    return dir.file(name);
}

std::string kubeconfig(const std::string& cluster, const std::string& user) {
    return "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
           "clusters:\n- name: k\n  cluster:\n" + cluster + "users:\n- name: u\n  user:\n" + user;
}

std::string usage_error(const std::string& path) {
    try {
        load_kubeconfig(path);
    } catch (const UsageError& e) {
        return e.what();
    }
    return "";
}

TEST(KubeConfig, CurrentContextWithFilesRelativeToTheKubeconfig) {
    TempDir dir;
    auto path = write(dir, "config", kubeconfig("    server: https://api.example:6443/prefix/\n    certificate-authority: ca.pem\n",
                                                "    tokenFile: token\n"));
    write(dir, "token", "  abc.def\n");
    KubeConfig c = load_kubeconfig(path);
    EXPECT_EQ(c.host, "api.example");
    EXPECT_EQ(c.port, "6443");
    EXPECT_EQ(c.base_path, "/prefix");
    EXPECT_EQ(c.tls.ca_file, dir.file("ca.pem"));
    EXPECT_EQ(c.token_file, dir.file("token"));
    std::string error;
    EXPECT_EQ(c.read_token(error).value_or("?"), "abc.def");
    write(dir, "token", "rotated\n");
    EXPECT_EQ(c.read_token(error).value_or("?"), "rotated") << "read again each time";
    write(dir, "token", "evil\r\nX-Injected: 1\n");
    EXPECT_FALSE(c.read_token(error));
    EXPECT_NE(error.find("cannot"), std::string::npos) << error;
}

TEST(KubeConfig, InlineDataAndIPv6) {
    TempDir dir;
    // "hello" in base64, standing for PEM text: decoded here, checked by OpenSSL when used
    auto path = write(dir, "config", kubeconfig("    server: https://[fd00::1]\n    certificate-authority-data: aGVsbG8=\n",
                                                "    token: t0ken\n"));
    KubeConfig c = load_kubeconfig(path);
    EXPECT_EQ(c.host, "fd00::1");
    EXPECT_EQ(c.port, "443");
    EXPECT_EQ(c.tls.ca_pem, "hello");
    EXPECT_EQ(c.token, "t0ken");
    EXPECT_EQ(c.server(), "https://[fd00::1]:443");
}

TEST(KubeConfig, EveryMistakeIsNamed) {
    TempDir dir;
    std::map<std::string, std::pair<std::string, std::string>> cases = {
        {"https://", {"    server: http://api:80\n    certificate-authority: ca\n", "    token: t\n"}},
        {"insecure-skip-tls-verify", {"    server: https://api\n    insecure-skip-tls-verify: true\n", "    token: t\n"}},
        {"exec plugin", {"    server: https://api\n", "    exec: {command: aws}\n"}},
        {"no credentials", {"    server: https://api\n", "    {}\n"}},
        {"goes with its key", {"    server: https://api\n", "    client-certificate: c.pem\n"}},
        {"not base64", {"    server: https://api\n    certificate-authority-data: '%%%'\n", "    token: t\n"}},
        {"bad host or port", {"    server: https://api:99999\n", "    token: t\n"}},
    };
    for (const auto& [expected, parts] : cases) {
        auto path = write(dir, "config", kubeconfig(parts.first, parts.second));
        std::string message = usage_error(path);
        EXPECT_NE(message.find(expected), std::string::npos) << expected << ": " << message;
        EXPECT_NE(message.find("--kubeconfig"), std::string::npos) << message;
    }
    EXPECT_NE(usage_error(dir.file("missing")).find("cannot read"), std::string::npos);
    write(dir, "garbage", "{{{: [");
    EXPECT_NE(usage_error(dir.file("garbage")).find("YAML"), std::string::npos);
    write(dir, "nocontext", "apiVersion: v1\nkind: Config\n");
    EXPECT_NE(usage_error(dir.file("nocontext")).find("current-context"), std::string::npos);
}

TEST(KubeConfig, InCluster) {
    TempDir dir;
    std::map<std::string, std::string> env;
    InClusterPaths paths{.service_account_dir = dir.path(), .getenv = [&](const char* name) -> const char* {
                             auto it = env.find(name);
                             return it == env.end() ? nullptr : it->second.c_str();
                         }};
    EXPECT_FALSE(in_cluster_config(paths)) << "not in a pod";
    env["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
    EXPECT_THROW(in_cluster_config(paths), UsageError) << "no port";
    env["KUBERNETES_SERVICE_PORT"] = "443";
    EXPECT_THROW(in_cluster_config(paths), UsageError) << "no token mounted";
    write(dir, "token", "sa-token\n");
    write(dir, "ca.crt", "x");
    auto c = in_cluster_config(paths);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->server(), "https://10.96.0.1:443");
    EXPECT_EQ(c->tls.ca_file, dir.file("ca.crt"));
    std::string error;
    EXPECT_EQ(c->read_token(error).value_or("?"), "sa-token");
    env["KUBERNETES_SERVICE_HOST"] = "fd00:10:96::1";
    EXPECT_EQ(in_cluster_config(paths)->host, "fd00:10:96::1");
}

}  // namespace
