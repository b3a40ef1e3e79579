#include "storage/session_proto.h"

#include "common/text.h"
#include "common/time_format.h"

#include <nlohmann/json.hpp>

namespace execaudit::storage {
namespace {

void add_json_strings(const std::string& json_text, google::protobuf::RepeatedPtrField<std::string>* out) {
    auto parsed = nlohmann::json::parse(json_text, nullptr, false);
    if (!parsed.is_array()) return;
    for (const auto& v : parsed)
        if (v.is_string()) out->Add(utf8_lossy(v.get<std::string>()));
}

execaudit::v1::Session::Status status_of(const std::string& s) {
    if (s == "ended") return execaudit::v1::Session::ended;
    if (s == "interrupted") return execaudit::v1::Session::interrupted;
    return execaudit::v1::Session::open;
}

execaudit::v1::Session::Attribution attribution_of(const std::string& s) {
    if (s == "audit") return execaudit::v1::Session::audit;
    if (s == "admission") return execaudit::v1::Session::admission;
    if (s == "ambiguous") return execaudit::v1::Session::ambiguous;
    if (s == "unattributed") return execaudit::v1::Session::unattributed;
    return execaudit::v1::Session::pending;
}

}  // namespace

execaudit::v1::Session to_proto(const SessionRecord& r) {
    execaudit::v1::Session s;
    s.set_id(r.id);
    s.set_node(utf8_lossy(r.node));
    s.set_namespace_(utf8_lossy(r.namespace_name));
    s.set_pod(utf8_lossy(r.pod));
    s.set_pod_uid(utf8_lossy(r.pod_uid));
    s.set_container(utf8_lossy(r.container));
    s.set_container_id(utf8_lossy(r.container_id));
    s.set_cgroup_id(r.cgroup_id);
    s.set_cgroup_path(utf8_lossy(r.cgroup_path));
    s.set_leader_pid(r.leader_pid);
    s.set_tty(r.tty);
    for (const auto& arg : r.command) s.add_command(utf8_lossy(arg));
    s.set_start(format_rfc3339_us(r.start_ns));
    if (r.end_ns) s.set_end(format_rfc3339_us(*r.end_ns));
    s.set_status(status_of(r.status));
    if (r.exit_code) s.set_exit_code(*r.exit_code);
    if (r.exit_signal) s.set_exit_signal(*r.exit_signal);
    s.set_attribution(attribution_of(r.attribution));
    if (r.user) s.set_user(utf8_lossy(*r.user));
    add_json_strings(r.groups_json, s.mutable_groups());
    add_json_strings(r.source_ips_json, s.mutable_source_ips());
    s.set_user_agent(utf8_lossy(r.user_agent));
    s.set_audit_id(utf8_lossy(r.audit_id));
    s.set_commands(r.commands);
    s.set_output_bytes(r.output_bytes);
    s.set_input_bytes(r.input_bytes);
    s.set_lost_bytes(r.lost_bytes);
    s.set_lost_events(r.lost_events);
    s.set_rows(r.rows);
    s.set_cols(r.cols);
    s.set_entered_via(utf8_lossy(r.entered_via));
    if (r.start_lost) s.set_start_lost(true);
    return s;
}

execaudit::v1::Command to_proto(const CommandRecord& r) {
    execaudit::v1::Command c;
    c.set_time(format_rfc3339_us(r.time_ns));
    c.set_pid(r.pid);
    c.set_ppid(r.ppid);
    c.set_ns_pid(r.ns_pid);
    for (const auto& arg : r.argv) c.add_argv(utf8_lossy(arg));
    if (r.retval) c.set_retval(*r.retval);
    else c.set_result_lost(true);
    c.set_filename(utf8_lossy(r.filename));
    c.set_uid(r.uid);
    c.set_gid(r.gid);
    c.set_argv_truncated(r.argv_truncated);
    c.set_seq(r.seq);
    return c;
}

execaudit::v1::Session to_proto(const SessionRecord& session, const std::vector<CommandRecord>& timeline) {
    auto s = to_proto(session);
    for (const auto& c : timeline) *s.add_timeline() = to_proto(c);
    return s;
}

}  // namespace execaudit::storage
