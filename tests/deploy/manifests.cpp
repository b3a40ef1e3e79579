#include "tests/deploy/manifests.h"

#include "tests/support/environment.h"

#include <fstream>

namespace execaudit::testing {

RunResult kustomize(const std::string& overlay) {
    return run({"kubectl", "kustomize", source_dir() + "/deploy/kubernetes/" + overlay}, 120s);
}

std::vector<YAML::Node> parse_documents(const std::string& text) {
    std::vector<YAML::Node> out;
    for (auto& doc : YAML::LoadAll(text))
        if (doc && doc.IsMap()) out.push_back(doc);
    return out;
}

namespace {
const char* kPython = "/usr/bin/python3";  // Debian's, where python3-kubernetes installs
}

std::string missing_schema_validator() {
    auto r = run({kPython, "-c", "import kubernetes.client, yaml"});
    if (r.exit_code != 0) return "no schema validator: Debian's python3-kubernetes is not installed (scripts/setup installs it)";
    return "";
}

RunResult validate_schema(const std::string& text) {
    TempDir dir;
    std::string path = dir.file("manifests.yaml");
    std::ofstream(path) << text;
    return run({kPython, source_dir() + "/tests/deploy/validate_manifests.py", path}, 120s);
}

std::vector<YAML::Node> containers_of(const YAML::Node& doc) {
    std::vector<YAML::Node> out;
    if (!doc["spec"] || !doc["spec"]["template"] || !doc["spec"]["template"]["spec"]) return out;
    auto pod = doc["spec"]["template"]["spec"];
    for (const char* key : {"initContainers", "containers"})
        if (pod[key])
            for (const auto& c : pod[key]) out.push_back(c);
    return out;
}

std::vector<HostMount> host_mounts(const YAML::Node& workload) {
    std::vector<HostMount> out;
    auto pod = workload["spec"]["template"]["spec"];
    for (const auto& m : pod["containers"][0]["volumeMounts"]) {
        for (const auto& v : pod["volumes"]) {
            if (v["name"].as<std::string>() != m["name"].as<std::string>() || !v["hostPath"]) continue;
            out.push_back({v["name"].as<std::string>(), v["hostPath"]["path"].as<std::string>(), m["mountPath"].as<std::string>(),
                           m["readOnly"].as<bool>(false), m["mountPropagation"].as<std::string>("")});
        }
    }
    return out;
}

std::string missing_flags(const std::string& subcommand, const std::string& config_yaml) {
    auto help = run({execaudit_bin(), "help", subcommand});
    if (help.exit_code != 0) return "`execaudit " + subcommand + "` does not exist in this build yet";
    std::string missing;
    for (const auto& kv : YAML::Load(config_yaml)) {
        std::string key = kv.first.as<std::string>();
        if (help.out.find("--" + key + " ") == std::string::npos && help.out.find("--" + key + "\n") == std::string::npos &&
            help.out.find("--" + key + ",") == std::string::npos)
            missing += (missing.empty() ? "" : ", ") + key;
    }
    return missing.empty() ? "" : "not (yet) flags of `execaudit " + subcommand + "`: " + missing;
}

}  // namespace execaudit::testing
