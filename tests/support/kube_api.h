#pragma once
// A Kubernetes API server of the tests' own (tests/support/kube_api_server.py, a real HTTPS server
// process speaking PodList, watch events, BOOKMARK and Status), with a throwaway PKI, a kubeconfig
// for it, and Pod objects in the API's shape.

#include "tests/support/audit_fixtures.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace execaudit::testing {

/// An exec action of a pod spec, for kube_pod().
struct PodExec {
    std::string container;
    std::string field;  ///< "livenessProbe", "readinessProbe", "startupProbe", "postStart", "preStop"
    std::vector<std::string> command;
};

struct KubePodSpec {
    std::string ns = "shop", name = "web", uid, node = "node-a";
    std::vector<std::string> containers = {"app"};
    std::vector<PodExec> execs;
    std::map<std::string, std::string> labels = {{"app", "web"}};
    std::string owner_kind = "ReplicaSet", owner_name = "web-7d4b9c";  ///< empty kind: no ownerReferences
    std::string service_account = "web";
    std::map<std::string, std::string> container_ids;  ///< status.containerStatuses[].containerID (without scheme)
};
/// A Pod object as the API server returns it.
nlohmann::json kube_pod(const KubePodSpec& spec);

class KubeApiServer {
public:
    /// Starts the server in `dir` (certificates and its log there) accepting `token`.
    KubeApiServer(const std::string& dir, const std::string& token);
    ~KubeApiServer();

    uint16_t port() const { return port_; }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
    const TestPki& pki() const { return *pki_; }
    std::string rogue_ca() const { return dir_ + "/rogue-ca.pem"; }
    /// A control operation (see the script): add, modify, delete, bookmark, compact, raw, drop,
    /// stall, unstall, gone, token, fail. Returns its answer ({"rv": N}).
    nlohmann::json control(const std::string& op, const nlohmann::json& arg = nlohmann::json::object());
    /// {"rv", "watches" (open now), "requests" ([{path, query, token, ok}]), "pods"}.
    nlohmann::json state();
    /// Writes a kubeconfig for this server: `user` is the users[0].user map.
    std::string kubeconfig(const std::string& name, const nlohmann::json& user, bool ca_data = false) const;
    std::string log() const { return read_file(dir_ + "/kube-api.log"); }

private:
    std::string dir_;
    std::unique_ptr<TestPki> pki_;
    std::unique_ptr<Process> process_;
    uint16_t port_ = 0, control_port_ = 0;
};

}  // namespace execaudit::testing
