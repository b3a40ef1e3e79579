#include "tests/support/kube_api.h"

#include <fstream>
#include <stdexcept>

namespace execaudit::testing {

nlohmann::json kube_pod(const KubePodSpec& s) {
    using nlohmann::json;
    json containers = json::array();
    json statuses = json::array();
    for (const auto& name : s.containers) {
        json c = {{"name", name}, {"image", "registry.example/app:1"}};
        for (const auto& e : s.execs) {
            if (e.container != name) continue;
            json action = {{"exec", {{"command", e.command}}}};
            if (e.field == "postStart" || e.field == "preStop")
                c["lifecycle"][e.field] = action;
            else
                c[e.field] = json{{"exec", {{"command", e.command}}}, {"periodSeconds", 10}};
        }
        containers.push_back(c);
        if (auto id = s.container_ids.find(name); id != s.container_ids.end())
            statuses.push_back({{"name", name}, {"containerID", "containerd://" + id->second}, {"ready", true}});
    }
    json meta = {{"name", s.name}, {"namespace", s.ns}, {"uid", s.uid}, {"labels", s.labels},
                 {"creationTimestamp", "2026-12-04T10:00:00Z"}};
    if (!s.owner_kind.empty())
        meta["ownerReferences"] = json::array({{{"apiVersion", "apps/v1"}, {"kind", s.owner_kind}, {"name", s.owner_name},
                                                {"uid", "owner-" + s.uid}, {"controller", true}, {"blockOwnerDeletion", true}}});
    if (s.labels.count("pod-template-hash") == 0 && s.owner_kind == "ReplicaSet") {
        auto dash = s.owner_name.rfind('-');
        if (dash != std::string::npos) meta["labels"]["pod-template-hash"] = s.owner_name.substr(dash + 1);
    }
    return {{"kind", "Pod"},
            {"apiVersion", "v1"},
            {"metadata", meta},
            {"spec", {{"nodeName", s.node}, {"serviceAccountName", s.service_account}, {"containers", containers}}},
            {"status", {{"phase", "Running"}, {"containerStatuses", statuses}}}};
}

KubeApiServer::KubeApiServer(const std::string& dir, const std::string& token) : dir_(dir) {
    pki_ = std::make_unique<TestPki>(dir);
    std::string ready = dir + "/kube-api.ready";
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/python3", source_dir() + "/tests/support/kube_api_server.py", "--cert",
                                 pki_->server_cert, "--key", pki_->server_key, "--client-ca", pki_->ca, "--token", token,
                                 "--ready-file", ready},
        dir + "/kube-api.log");
    if (!eventually([&] { return std::ifstream(ready).good(); }, 20s))
        throw std::runtime_error("the test API server did not start: " + log());
    auto ports = nlohmann::json::parse(read_file(ready));
    port_ = ports["api"].get<uint16_t>();
    control_port_ = ports["control"].get<uint16_t>();
}

KubeApiServer::~KubeApiServer() = default;

nlohmann::json KubeApiServer::control(const std::string& op, const nlohmann::json& arg) {
    auto r = curl_post("http://127.0.0.1:" + std::to_string(control_port_) + "/" + op, arg.dump(), dir_);
    if (r.exit_code != 0 || r.status != 200)
        throw std::runtime_error("test API server control " + op + " failed: " + std::to_string(r.status) + " " + r.body);
    return nlohmann::json::parse(r.body);
}

nlohmann::json KubeApiServer::state() {
    auto r = run({"curl", "-s", "-S", "--max-time", "20", "http://127.0.0.1:" + std::to_string(control_port_) + "/"}, 30s);
    if (r.exit_code != 0) throw std::runtime_error("test API server state: " + r.err);
    return nlohmann::json::parse(r.out);
}

std::string KubeApiServer::kubeconfig(const std::string& name, const nlohmann::json& user, bool ca_data) const {
    nlohmann::json cluster = {{"server", url()}};
    if (ca_data) {
        auto r = run({"base64", "-w0", pki_->ca});
        cluster["certificate-authority-data"] = r.out;
    } else {
        cluster["certificate-authority"] = pki_->ca;
    }
    nlohmann::json config = {
        {"apiVersion", "v1"},
        {"kind", "Config"},
        {"clusters", {{{"name", "test"}, {"cluster", cluster}}}},
        {"users", {{{"name", "agent"}, {"user", user}}}},
        {"contexts", {{{"name", "test"}, {"context", {{"cluster", "test"}, {"user", "agent"}}}}}},
        {"current-context", "test"},
    };
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << config.dump(2);  // JSON is YAML
    return path;
}

}  // namespace execaudit::testing
