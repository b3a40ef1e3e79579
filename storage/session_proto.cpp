#include "storage/session_proto.h"

#include "common/text.h"
#include "common/time_format.h"
#include "storage/session_chain.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace execaudit::storage {
std::vector<std::string> json_string_array(const std::string& json_text) {
    std::vector<std::string> out;
    auto parsed = nlohmann::json::parse(json_text, nullptr, false);
    if (parsed.is_array())
        for (const auto& v : parsed)
            if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
}

namespace {

void add_json_strings(const std::string& json_text, google::protobuf::RepeatedPtrField<std::string>* out) {
    for (const auto& v : json_string_array(json_text)) out->Add(utf8_lossy(v));
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
    if (s == "workload") return execaudit::v1::Session::workload;
    if (s == "kubelet") return execaudit::v1::Session::kubelet;
    return execaudit::v1::Session::pending;
}

/// The pod as it was at the session's start; nothing when the pod was not known.
void add_pod_metadata(const SessionRecord& r, execaudit::v1::Session& s) {
    if (r.cluster) s.set_cluster(utf8_lossy(*r.cluster));
    if (!r.pod_meta) return;
    const PodMetadata& m = *r.pod_meta;
    auto* labels = s.mutable_labels()->mutable_fields();
    auto parsed = nlohmann::json::parse(m.labels_json, nullptr, false);
    if (parsed.is_object())
        for (const auto& [key, value] : parsed.items())
            if (value.is_string()) (*labels)[utf8_lossy(key)].set_string_value(utf8_lossy(value.get<std::string>()));
    if (m.labels_dropped) s.set_labels_dropped(m.labels_dropped);
    if (!m.owner_kind.empty()) {
        s.mutable_owner()->set_kind(utf8_lossy(m.owner_kind));
        s.mutable_owner()->set_name(utf8_lossy(m.owner_name));
    }
    if (!m.workload_kind.empty()) {
        s.mutable_workload_ref()->set_kind(utf8_lossy(m.workload_kind));
        s.mutable_workload_ref()->set_name(utf8_lossy(m.workload_name));
    }
    if (!m.service_account.empty()) s.set_service_account(utf8_lossy(m.service_account));
}

/// The chain's head once the session has one.
void add_chain(const SessionRecord& r, execaudit::v1::Session& s) {
    if (r.chain_head.empty()) return;
    auto* c = s.mutable_chain();
    c->set_start(to_hex(r.chain_start));
    c->set_head(to_hex(r.chain_head));
    c->set_records(r.chain_records);
    c->set_signature(to_hex(r.head_signature));
    c->set_signing_key(utf8_lossy(r.signing_key));
    if (r.sealed_ns) c->set_sealed(format_rfc3339_us(r.sealed_ns));
    c->set_countersignature(to_hex(r.collector_signature));
    c->set_countersigning_key(utf8_lossy(r.collector_key));
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
    s.set_request_id(utf8_lossy(r.request_id));
    if (!r.user_verified) s.set_user_unverified(true);
    if (r.argv_prefix_matched) s.set_argv_prefix_matched(true);
    s.set_commands(r.commands);
    s.set_output_bytes(r.output_bytes);
    s.set_input_bytes(r.input_bytes);
    s.set_lost_bytes(r.lost_bytes);
    s.set_lost_events(r.lost_events);
    s.set_rows(r.rows);
    s.set_cols(r.cols);
    s.set_entered_via(utf8_lossy(r.entered_via));
    if (r.start_lost) s.set_start_lost(true);
    add_pod_metadata(r, s);
    s.set_runs(r.runs);
    if (r.runs > 1) {
        if (r.last_run_ns) s.set_last_run(format_rfc3339_us(*r.last_run_ns));
        if (r.run_min_ns) s.set_run_min_us(static_cast<uint64_t>(std::max<int64_t>(*r.run_min_ns, 0) / 1000));
        if (r.run_max_ns) s.set_run_max_us(static_cast<uint64_t>(std::max<int64_t>(*r.run_max_ns, 0) / 1000));
    }
    add_chain(r, s);
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
    c.set_exe(utf8_lossy(r.exe_path));
    c.set_exe_inode(r.exe_ino);
    if (r.exe_ino) c.set_exe_device(std::to_string(r.exe_dev >> 20) + ":" + std::to_string(r.exe_dev & 0xFFFFF));
    c.set_fileless(r.exe_fileless);
    c.set_argv0_mismatch(argv0_mismatch(r));
    return c;
}

namespace {

void add_extra(const std::string& json_text, google::protobuf::Map<std::string, execaudit::v1::StringList>* out) {
    auto parsed = nlohmann::json::parse(json_text, nullptr, false);
    if (!parsed.is_object()) return;
    for (const auto& [key, values] : parsed.items()) {
        auto& list = (*out)[utf8_lossy(key)];
        if (values.is_array())
            for (const auto& v : values)
                if (v.is_string()) list.add_values(utf8_lossy(v.get<std::string>()));
    }
}

}  // namespace

execaudit::v1::Request to_proto(const ExecRequestRecord& r) {
    execaudit::v1::Request q;
    q.set_id(utf8_lossy(r.id));
    q.set_audit_id(utf8_lossy(r.audit_id.empty() ? r.id : r.audit_id));
    if (!r.verified) q.set_unverified(true);
    q.set_source(r.source);
    q.set_kind(utf8_lossy(r.kind));
    q.set_verb(utf8_lossy(r.verb));
    q.set_namespace_(utf8_lossy(r.namespace_name));
    q.set_pod(utf8_lossy(r.pod));
    q.set_container(utf8_lossy(r.container));
    for (const auto& a : r.command) q.add_command(utf8_lossy(a));
    q.set_tty(r.tty);
    q.set_stdin(r.stdin);
    const auto& who = r.requester;
    q.set_user(utf8_lossy(who.user));
    q.set_user_uid(utf8_lossy(who.user_uid));
    add_json_strings(who.groups_json, q.mutable_groups());
    add_extra(who.user_extra_json, q.mutable_user_extra());
    q.set_impersonated_user(utf8_lossy(who.impersonated_user));
    add_json_strings(who.impersonated_groups_json, q.mutable_impersonated_groups());
    add_json_strings(who.source_ips_json, q.mutable_source_ips());
    q.set_user_agent(utf8_lossy(who.user_agent));
    q.set_authz_decision(utf8_lossy(who.authz_decision));
    q.set_authz_reason(utf8_lossy(who.authz_reason));
    q.set_response_code(r.response_code);
    q.set_response_message(utf8_lossy(r.response_message));
    q.set_received(format_rfc3339_us(r.received_ns));
    if (r.started_ns) q.set_started(format_rfc3339_us(*r.started_ns));
    if (r.completed_ns) q.set_completed(format_rfc3339_us(*r.completed_ns));
    q.set_state(r.state);
    if (r.session_id) q.set_session_id(*r.session_id);
    return q;
}

execaudit::v1::Session to_proto(const SessionRecord& session, const std::vector<CommandRecord>& timeline,
                                const std::vector<ExecRequestRecord>& requests) {
    auto s = to_proto(session);
    for (const auto& c : timeline) *s.add_timeline() = to_proto(c);
    for (const auto& r : requests) {
        if (r.session_id == session.id && r.id == (session.request_id.empty() ? session.audit_id : session.request_id)) {
            const auto& who = r.requester;
            s.set_user_uid(utf8_lossy(who.user_uid));
            add_extra(who.user_extra_json, s.mutable_user_extra());
            s.set_impersonated_user(utf8_lossy(who.impersonated_user));
            add_json_strings(who.impersonated_groups_json, s.mutable_impersonated_groups());
            s.set_authz_decision(utf8_lossy(who.authz_decision));
            s.set_authz_reason(utf8_lossy(who.authz_reason));
            s.set_request_verb(utf8_lossy(r.verb));
        } else if (session.attribution == "ambiguous") {
            *s.add_candidates() = to_proto(r);
        }
    }
    return s;
}

}  // namespace execaudit::storage
