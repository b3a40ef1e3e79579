#include "export/ecs_format.h"

#include "common/text.h"

#include <map>


namespace execaudit::exporting {
namespace {

// The proto's own name for the kind, as in the JSON records.
std::string kind_name(v1::RecordKind kind) {
    const std::string& name = v1::RecordKind_Name(kind);
    return kind == v1::record_kind_unknown || name.empty() ? "unknown" : name;
}

nlohmann::json strings(const google::protobuf::RepeatedPtrField<std::string>& values) {
    auto out = nlohmann::json::array();
    for (const auto& v : values) out.push_back(v);
    return out;
}

/// "Kind/name", the way kubectl names an object.
nlohmann::json object_ref(const v1::OwnerRef& ref) { return {{"kind", ref.kind()}, {"name", ref.name()}}; }

/// ECS's orchestrator.* for what the API server said of the pod; nothing where it was not known.
void add_pod_metadata(const v1::Session& s, nlohmann::json& orchestrator, nlohmann::json& ours) {
    if (s.has_cluster()) orchestrator["cluster"] = {{"name", s.cluster()}};
    if (s.has_labels()) {
        std::map<std::string, std::string> sorted;
        for (const auto& [key, value] : s.labels().fields()) sorted.emplace(key, value.string_value());
        auto labels = nlohmann::json::array();
        for (const auto& [key, value] : sorted) labels.push_back(key + ":" + value);  // ECS's own form
        orchestrator["resource"]["label"] = std::move(labels);
    }
    if (s.has_labels_dropped()) ours["labels_dropped"] = s.labels_dropped();
    if (s.has_workload_ref()) {
        if (s.workload_ref().kind() != "Pod") orchestrator["resource"]["parent"] = {{"type", s.workload_ref().kind()}};
        ours["workload"] = object_ref(s.workload_ref());
    }
    if (s.has_owner()) ours["owner"] = object_ref(s.owner());
    if (s.has_service_account()) ours["service_account"] = s.service_account();
}

}  // namespace

nlohmann::json to_ecs(const v1::ExportRecord& r) {
    const v1::Session& s = r.session();
    nlohmann::json j;
    j["@timestamp"] = r.time();
    j["ecs"] = {{"version", kEcsVersion}};
    j["message"] = r.kind() == v1::command
                       ? "command: " + join_argv({r.command().argv().begin(), r.command().argv().end()})
                       : kind_name(r.kind());

    nlohmann::json event = {{"id", r.record_id()},
                            {"kind", "event"},
                            {"module", "execaudit"},
                            {"dataset", "execaudit.session"},
                            {"action", kind_name(r.kind())},
                            {"sequence", r.position()}};
    switch (r.kind()) {
        case v1::session_start:
            event["category"] = {"session", "process"};
            event["type"] = {"start"};
            break;
        case v1::command:
            event["category"] = {"process"};
            event["type"] = {"start"};
            event["outcome"] = r.command().has_result_lost() ? "unknown" : r.command().retval() == 0 ? "success" : "failure";
            break;
        case v1::session_end:
            event["category"] = {"session", "process"};
            event["type"] = {"end"};
            event["start"] = s.start();
            if (s.has_end()) event["end"] = s.end();
            break;
        default:
            event["category"] = {"session"};
            event["type"] = {"info"};
            break;
    }
    j["event"] = std::move(event);

    nlohmann::json leader = {{"pid", s.leader_pid()}, {"args", strings(s.command())}, {"tty", s.tty()}};
    if (!s.command().empty()) leader["executable"] = s.command(0);
    if (r.kind() == v1::command) {
        const v1::Command& c = r.command();
        nlohmann::json process = {{"pid", c.pid()},
                                  {"parent", {{"pid", c.ppid()}}},
                                  {"args", strings(c.argv())},
                                  {"args_count", c.argv_size()},
                                  {"executable", c.filename()},
                                  {"start", c.time()},
                                  {"user", {{"id", std::to_string(c.uid())}}},
                                  {"group", {{"id", std::to_string(c.gid())}}},
                                  {"session_leader", leader}};
        if (!c.argv().empty()) process["name"] = c.argv(0).substr(c.argv(0).rfind('/') + 1);
        if (!c.has_result_lost()) process["exit_code"] = c.retval();  // execve's result: 0 or -errno
        j["process"] = std::move(process);
    } else {
        nlohmann::json process = leader;
        if (r.kind() == v1::session_end && s.has_exit_code()) process["exit_code"] = s.exit_code();
        j["process"] = std::move(process);
    }

    if (s.has_user()) j["user"] = {{"name", s.user()}, {"roles", strings(s.groups())}};
    j["host"] = {{"name", r.node()}, {"hostname", r.node()}};
    nlohmann::json orchestrator = {{"type", "kubernetes"},
                                   {"namespace", s.namespace_()},
                                   {"resource", {{"type", "pod"}, {"name", s.pod()}, {"id", s.pod_uid()}}}};
    j["container"] = {{"id", s.container_id()}, {"name", s.container()}};
    if (!s.source_ips().empty()) j["source"] = {{"ip", s.source_ips(0)}};
    if (!s.user_agent().empty()) j["user_agent"] = {{"original", s.user_agent()}};

    // Everything ECS has no field for, under our own name.
    nlohmann::json ours = {{"record_id", r.record_id()},
                           {"kind", kind_name(r.kind())},
                           {"session_id", r.session_id()},
                           {"status", v1::Session::Status_Name(s.status())},
                           {"attribution", v1::Session::Attribution_Name(s.attribution())},
                           {"audit_id", s.audit_id()},
                           {"entered_via", s.entered_via()},
                           {"commands", s.commands()},
                           {"output_bytes", s.output_bytes()},
                           {"input_bytes", s.input_bytes()},
                           {"lost_bytes", s.lost_bytes()},
                           {"lost_events", s.lost_events()},
                           {"source_ips", strings(s.source_ips())},
                           {"session_start", s.start()},
                           {"runs", s.runs()}};  // docs/kubelet-execs.md, "Folded runs"
    if (s.has_last_run()) ours["last_run"] = s.last_run();
    if (s.has_run_min_us()) ours["run_min_us"] = s.run_min_us();
    if (s.has_run_max_us()) ours["run_max_us"] = s.run_max_us();
    if (s.has_exit_signal()) ours["exit_signal"] = s.exit_signal();
    if (r.kind() == v1::command) {
        ours["command_seq"] = r.command().seq();
        ours["argv_truncated"] = r.command().argv_truncated();
        ours["ns_pid"] = r.command().ns_pid();
    }
    add_pod_metadata(s, orchestrator, ours);
    if (s.has_chain()) {
        // the head, outside the node: `verify --exported` compares a store with these
        const v1::Chain& c = s.chain();
        nlohmann::json chain = {{"start", c.start()}, {"head", c.head()}, {"records", c.records()}};
        if (!c.signature().empty()) chain["signature"] = c.signature(), chain["signing_key"] = c.signing_key();
        if (c.has_sealed()) chain["sealed"] = c.sealed();
        if (!c.countersignature().empty())
            chain["countersignature"] = c.countersignature(), chain["countersigning_key"] = c.countersigning_key();
        ours["chain"] = std::move(chain);
    }
    j["orchestrator"] = std::move(orchestrator);
    j["execaudit"] = std::move(ours);
    return j;
}

}  // namespace execaudit::exporting
