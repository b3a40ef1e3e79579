#pragma once
// deploy/kubernetes for the tests: kustomize builds, the documents they produce, the schema check.

#include "tests/support/process.h"

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace execaudit::testing {

/// `kubectl kustomize deploy/kubernetes/OVERLAY`.
RunResult kustomize(const std::string& overlay);
std::vector<YAML::Node> parse_documents(const std::string& text);
/// Empty when tests/deploy/validate_manifests.py can run (Debian's python3-kubernetes), else why not.
std::string missing_schema_validator();
/// tests/deploy/validate_manifests.py on `text`.
RunResult validate_schema(const std::string& text);
/// The containers and init containers of a workload's pod template (none for other kinds).
std::vector<YAML::Node> containers_of(const YAML::Node& doc);

struct HostMount {
    std::string volume, host_path, mount_path;
    bool read_only = false;
    std::string propagation;
};
/// The first container's hostPath mounts.
std::vector<HostMount> host_mounts(const YAML::Node& workload);

/// "" when every key of `config_yaml` is a flag of `execaudit SUBCOMMAND` in this build; else which
/// are not (yet): keys written against docs/cli.md for work that has not landed.
std::string missing_flags(const std::string& subcommand, const std::string& config_yaml);

}  // namespace execaudit::testing
