#include "recorder/pods/pod_spec.h"

#include "recorder/pods/pod_json.h"

#include <tuple>

namespace execaudit::recorder {
namespace {

using nlohmann::json;

const json* member(const json& object, std::string_view key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

class PodParser {
public:
    PodParser(const PodLimits& limits, std::string& error) : limits_(limits), error_(error) {}

    bool fail(std::string message) {
        if (error_.empty()) error_ = std::move(message);
        return false;
    }

    bool bounded(const std::string& s, std::string_view what) {
        return s.size() <= limits_.max_string || fail(std::string(what) + " longer than the limit");
    }

    bool parse_meta(const json& meta, PodInfo& pod) {
        pod.namespace_name = json_string(meta, "namespace");
        pod.name = json_string(meta, "name");
        pod.uid = json_string(meta, "uid");
        pod.resource_version = json_string(meta, "resourceVersion");
        if (pod.name.empty() || pod.uid.empty()) return fail("pod without metadata.name or metadata.uid");
        if (!bounded(pod.namespace_name, "namespace") || !bounded(pod.name, "name") || !bounded(pod.uid, "uid") ||
            !bounded(pod.resource_version, "resourceVersion"))
            return false;
        if (const json* annotations = member(meta, "annotations"); annotations && annotations->is_object()) {
            pod.mirror_of = json_string(*annotations, "kubernetes.io/config.mirror");
            if (!bounded(pod.mirror_of, "mirror annotation")) return false;
        }
        return parse_labels(meta) && parse_owner(meta, pod);
    }

    bool parse_labels(const json& meta) {
        const json* labels = member(meta, "labels");
        if (!labels || labels->is_null()) return true;
        if (!labels->is_object()) return fail("metadata.labels is not an object");
        if (labels->size() > limits_.max_labels) return fail("more labels than the limit");
        for (const auto& [key, value] : labels->items()) {
            if (!value.is_string()) return fail("a label value is not a string");
            if (!bounded(key, "label key") || !bounded(value.get_ref<const std::string&>(), "label value"))
                return false;
            labels_[key] = value.get<std::string>();
        }
        return true;
    }

    bool parse_owner(const json& meta, PodInfo& pod) {
        const json* owners = member(meta, "ownerReferences");
        has_owners_ = owners && owners->is_array() && !owners->empty();
        if (!has_owners_) return true;
        for (const json& ref : *owners) {
            const json* controller = member(ref, "controller");
            if (!controller || !controller->is_boolean() || !controller->get<bool>()) continue;
            OwnerRef owner{json_string(ref, "kind"), json_string(ref, "name")};
            if (!bounded(owner.kind, "owner kind") || !bounded(owner.name, "owner name")) return false;
            pod.owner = std::move(owner);
            return true;
        }
        return true;
    }

    bool parse_argv(const json& handler, std::vector<std::string>& argv) {
        const json* exec = member(handler, "exec");
        if (!exec) return true;  // httpGet, tcpSocket, grpc, sleep: nothing runs in the container
        const json* command = member(*exec, "command");
        if (!command || !command->is_array()) return fail("exec action without a command array");
        if (command->size() > limits_.max_argv) return fail("exec command longer than the limit");
        for (const json& arg : *command) {
            if (!arg.is_string()) return fail("exec command element is not a string");
            if (!bounded(arg.get_ref<const std::string&>(), "exec command element")) return false;
            argv.push_back(arg.get<std::string>());
        }
        return true;
    }

    bool add_exec(const json* handler, KubeletExec::Kind kind, std::string name, ContainerSpec& container) {
        if (!handler) return true;
        KubeletExec exec{kind, std::move(name), {}};
        if (!parse_argv(*handler, exec.argv)) return false;
        if (member(*handler, "exec")) container.execs.push_back(std::move(exec));
        return true;
    }

    bool parse_container(const json& c, ContainerSpec& container) {
        container.name = json_string(c, "name");
        if (container.name.empty() || !bounded(container.name, "container name")) return fail("container without a name");
        using K = KubeletExec::Kind;
        for (const char* probe : {"liveness", "readiness", "startup"})
            if (!add_exec(member(c, std::string(probe) + "Probe"), K::probe, probe, container)) return false;
        if (const json* lifecycle = member(c, "lifecycle"))
            for (const char* hook : {"postStart", "preStop"})
                if (!add_exec(member(*lifecycle, hook), K::hook, hook, container)) return false;
        return true;
    }

    bool parse_spec(const json& spec, PodInfo& pod) {
        pod.node_name = json_string(spec, "nodeName");
        pod.service_account = json_string(spec, "serviceAccountName");
        if (!bounded(pod.node_name, "nodeName") || !bounded(pod.service_account, "serviceAccountName")) return false;
        for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
            const json* containers = member(spec, list);
            if (!containers || containers->is_null()) continue;
            if (!containers->is_array()) return fail(std::string("spec.") + list + " is not an array");
            for (const json& c : *containers) {
                if (pod.containers.size() >= limits_.max_containers) return fail("more containers than the limit");
                ContainerSpec container;
                if (!parse_container(c, container)) return false;
                pod.containers.push_back(std::move(container));
            }
        }
        return true;
    }

    /// status.*containerStatuses: which container ID each container name runs as now.
    bool parse_status(const json& status, PodInfo& pod) {
        for (const char* list : {"initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"}) {
            const json* statuses = member(status, list);
            if (!statuses || !statuses->is_array()) continue;
            for (const json& s : *statuses) {
                std::string name = json_string(s, "name"), id = json_string(s, "containerID");
                if (!bounded(id, "containerID")) return false;
                if (auto scheme = id.find("://"); scheme != std::string::npos) id.erase(0, scheme + 3);
                for (auto& c : pod.containers)
                    if (c.name == name) c.container_id = id;
            }
        }
        return true;
    }

    std::optional<PodInfo> parse(const json& object) {
        const json* meta = member(object, "metadata");
        const json* spec = member(object, "spec");
        if (!meta || !meta->is_object() || !spec || !spec->is_object()) {
            fail("not a Pod (no metadata or spec object)");
            return std::nullopt;
        }
        PodInfo pod;
        if (!parse_meta(*meta, pod) || !parse_spec(*spec, pod)) return std::nullopt;
        if (const json* status = member(object, "status"); status && !parse_status(*status, pod)) return std::nullopt;
        pod.labels = std::move(labels_);
        pod.workload = derive_workload(pod, has_owners_);
        return pod;
    }

private:
    const PodLimits& limits_;
    std::string& error_;
    std::map<std::string, std::string> labels_;
    bool has_owners_ = false;
};

/// Tetragon's `(.+)-\d{8,10}$`: the digits after the last '-' (a '-' is no digit).
std::optional<std::string> cron_job_of(const std::string& job) {
    auto dash = job.rfind('-');
    if (dash == std::string::npos || dash == 0) return std::nullopt;
    std::string_view digits = std::string_view(job).substr(dash + 1);
    if (digits.size() < 8 || digits.size() > 10) return std::nullopt;
    for (char c : digits)
        if (c < '0' || c > '9') return std::nullopt;
    return job.substr(0, dash);
}

}  // namespace

std::string json_string(const json& object, std::string_view key) {
    const json* value = member(object, key);
    return value && value->is_string() ? value->get<std::string>() : std::string();
}

std::optional<PodInfo> pod_from_json(const json& object, std::string& error, const PodLimits& limits) {
    error.clear();
    return PodParser(limits, error).parse(object);
}

std::optional<PodInfo> parse_pod(std::string_view text, std::string& error, const PodLimits& limits) {
    json object = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded()) {
        error = "not JSON";
        return std::nullopt;
    }
    return pod_from_json(object, error, limits);
}

std::size_t PodInfo::footprint() const {
    auto str = [](const std::string& s) { return sizeof(std::string) + (s.size() > 15 ? s.size() + 1 : 0); };
    std::size_t n = sizeof(PodInfo);
    for (const auto* s : {&namespace_name, &name, &uid, &node_name, &resource_version, &service_account, &mirror_of})
        n += str(*s) - sizeof(std::string);
    for (const auto& [k, v] : labels) n += 32 + str(k) + str(v);  // a map node: links and colour
    for (const auto* o : {&owner, &workload})
        if (*o) n += str((*o)->kind) + str((*o)->name) - 2 * sizeof(std::string);
    for (const auto& c : containers) {
        n += sizeof(ContainerSpec) + str(c.name) + str(c.container_id) - 2 * sizeof(std::string);
        for (const auto& e : c.execs) {
            n += sizeof(KubeletExec) + str(e.name) - sizeof(std::string);
            for (const auto& a : e.argv) n += str(a);
        }
    }
    return n;
}

bool PodInfo::same_but_version(const PodInfo& o) const {
    return std::tie(namespace_name, name, uid, node_name, service_account, mirror_of, labels, owner, workload, containers) ==
           std::tie(o.namespace_name, o.name, o.uid, o.node_name, o.service_account, o.mirror_of, o.labels, o.owner,
                    o.workload, o.containers);
}

const ContainerSpec* PodInfo::container(std::string_view wanted) const {
    for (const auto& c : containers)
        if (c.name == wanted) return &c;
    return nullptr;
}

const ContainerSpec* PodInfo::container_by_id(std::string_view id) const {
    if (id.empty()) return nullptr;
    for (const auto& c : containers)
        if (c.container_id == id) return &c;
    return nullptr;
}

std::optional<OwnerRef> derive_workload(const PodInfo& pod, bool has_owner_references) {
    if (!has_owner_references) return OwnerRef{"Pod", pod.name};
    if (!pod.owner) return std::nullopt;
    OwnerRef workload = *pod.owner;
    if (workload.kind == "ReplicaSet") {
        if (auto hash = pod.labels.find("pod-template-hash"); hash != pod.labels.end()) {
            std::string suffix = "-" + hash->second;
            if (workload.name.ends_with(suffix)) workload.name.resize(workload.name.size() - suffix.size());
            workload.kind = "Deployment";
        }
    } else if (workload.kind == "Job") {
        if (auto cron_job = cron_job_of(workload.name)) {
            workload.name = std::move(*cron_job);
            workload.kind = "CronJob";
        }
    }
    return workload;
}

}  // namespace execaudit::recorder
