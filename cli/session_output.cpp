#include "cli/session_output.h"

#include "common/json_output.h"
#include "common/text.h"
#include "common/time_format.h"
#include "proto_json.h"
#include "storage/session_proto.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>

namespace execaudit::cli {
namespace {

std::string human_bytes(uint64_t n) {
    if (n < 1024) return fmt::format("{}B", n);
    if (n < 1024 * 1024) return fmt::format("{:.1f}K", n / 1024.0);
    if (n < 1024ull * 1024 * 1024) return fmt::format("{:.1f}M", n / (1024.0 * 1024));
    return fmt::format("{:.1f}G", n / (1024.0 * 1024 * 1024));
}

// A probe run is milliseconds: shown as such below a second.
std::string run_duration(int64_t ns) {
    return ns < 1'000'000'000 ? fmt::format("{:.1f}ms", static_cast<double>(std::max<int64_t>(ns, 0)) / 1e6) : format_duration(ns);
}

std::string duration_of(const storage::SessionRecord& s) {
    int64_t end = s.end_ns ? *s.end_ns : wall_clock_ns();
    return format_duration(end - s.start_ns) + (s.end_ns ? "" : "+");
}

// One CSV record, '\n'-terminated.
std::string csv_line(const std::vector<std::string>& fields) {
    std::string line;
    for (size_t i = 0; i < fields.size(); ++i) {
        if (i) line += ',';
        line += csv_cell(fields[i]);
    }
    return line + '\n';
}

void print_table(std::ostream& out, const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> width(header.size());
    auto display_width = [](const std::string& s) {
        size_t w = 0;
        for (unsigned char c : s) w += (c & 0xC0) != 0x80;  // code points, close enough for names
        return w;
    };
    for (size_t i = 0; i < header.size(); ++i) width[i] = display_width(header[i]);
    for (const auto& row : rows)
        for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], display_width(row[i]));
    auto line = [&](const std::vector<std::string>& cells) {
        std::string l;
        for (size_t i = 0; i < cells.size(); ++i) {
            l += cells[i];
            if (i + 1 < cells.size()) l += std::string(width[i] - display_width(cells[i]) + 2, ' ');
        }
        out << l << '\n';
    };
    line(header);
    for (const auto& row : rows) line(row);
}

// `legal_hold`: null, or who held the session, when and why (storage/session_holds.h).
void add_legal_hold(nlohmann::json& j, const storage::SessionRecord& s) {
    if (!s.held) {
        j["legal_hold"] = nullptr;
        return;
    }
    j["legal_hold"] = {{"reason", utf8_lossy(s.hold_reason)}, {"by", utf8_lossy(s.held_by)}, {"since", format_rfc3339_us(s.held_ns)}};
}

std::string list_of(const std::string& json_array) {
    std::string out;
    for (const auto& v : storage::json_string_array(json_array)) {
        if (!out.empty()) out += ", ";
        out += terminal_safe(v);
    }
    return out.empty() ? "-" : out;
}

std::string requester_line(const storage::ExecRequestRecord& r) {
    return fmt::format("{} from {} ({}, request {})", terminal_safe(r.requester.user), list_of(r.requester.source_ips_json),
                       terminal_safe(r.requester.user_agent), terminal_safe(r.id));
}

// Who asked, in full: the matched request's identity, or what is known when nobody did.
void print_who(std::ostream& out, const storage::SessionRecord& s, const std::vector<storage::ExecRequestRecord>& requests) {
    auto row = [&](std::string_view key, const std::string& value) { out << fmt::format("{:<13}{}\n", key, value); };
    const storage::ExecRequestRecord* matched = nullptr;
    for (const auto& r : requests)
        if (r.id == (s.request_id.empty() ? s.audit_id : s.request_id)) matched = &r;
    if ((s.attribution == "audit" || s.attribution == "admission") && matched) {
        const auto& who = matched->requester;
        row("Who", fmt::format("{}{}  ({} {}, {})", terminal_safe(who.user),
                               s.user_verified ? "" : " (UNVERIFIED: a claim from an unauthenticated admission webhook)",
                               s.attribution == "audit" ? "audit event" : "admission review", terminal_safe(matched->id),
                               terminal_safe(matched->verb)));
        if (s.argv_prefix_matched) row("  argv", "truncated by the kernel; matched as a prefix of the request's command");
        row("  groups", list_of(who.groups_json));
        if (!who.user_uid.empty()) row("  uid", terminal_safe(who.user_uid));
        if (who.user_extra_json != "{}" && !who.user_extra_json.empty()) row("  extra", terminal_safe(who.user_extra_json));
        if (!who.impersonated_user.empty())
            row("  acting as", fmt::format("{} (groups {}), impersonated", terminal_safe(who.impersonated_user),
                                           list_of(who.impersonated_groups_json)));
        row("  from", list_of(who.source_ips_json) + "  " + terminal_safe(who.user_agent));
        if (!who.authz_decision.empty())
            row("  authorized", terminal_safe(who.authz_decision) + (who.authz_reason.empty() ? "" : ": " + terminal_safe(who.authz_reason)));
    } else if (s.attribution == "unattributed") {
        row("Who", "NOBODY ASKED THE API SERVER: no audit event or admission review matches this session;");
        row("", "someone entered the container from the node (crictl, ctr, nsenter, the kubelet API)");
    } else if (s.attribution == "workload") {
        row("Who", "the container's own process on its terminal: no kubectl attach or debug request joined it");
    } else if (s.attribution == "kubelet") {
        row("Who", "the kubelet (a probe or hook)");
    } else if (s.attribution == "ambiguous") {
        row("Who", fmt::format("ambiguous: {} fit this session and cannot be told apart from rival sessions:",
                               requests.size() == 1 ? std::string("1 request") : fmt::format("{} requests", requests.size())));
        for (const auto& r : requests) row("", requester_line(r));
    } else {
        row("Who", "(pending: waiting for the API server's audit event)");
    }
}

}  // namespace

std::string describe_retval(const std::optional<int32_t>& retval) {
    if (!retval) return "?";
    if (*retval == 0) return "ok";
    const char* name = *retval < 0 ? strerrorname_np(-*retval) : nullptr;
    return name ? fmt::format("{} {}", *retval, name) : std::to_string(*retval);
}

void print_sessions_table(std::ostream& out, const std::vector<storage::SessionRecord>& sessions) {
    if (sessions.empty()) {
        out << "no sessions match\n";
        return;
    }
    // RUNS (docs/kubelet-execs.md, "Folded runs") where the kubelet's runs are listed: a row may stand for several
    bool runs = std::any_of(sessions.begin(), sessions.end(),
                            [](const auto& s) { return s.runs > 1 || s.attribution == "kubelet"; });
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : sessions) {
        rows.push_back({terminal_safe(s.id), short_time(s.start_ns), duration_of(s),
                        terminal_safe(s.status) + (s.held ? " HELD" : ""), user_of(s), pod_of(s),
                        terminal_safe(s.container), std::to_string(s.commands), human_bytes(s.output_bytes),
                        terminal_safe(join_argv(lossy(s.command)))});
        if (runs) rows.back().insert(rows.back().begin() + 3, std::to_string(s.runs));
    }
    std::vector<std::string> header = {"ID", "START (UTC)", "DURATION", "STATUS", "USER", "NAMESPACE/POD", "CONTAINER", "CMDS",
                                       "OUTPUT", "COMMAND"};
    if (runs) header.insert(header.begin() + 3, "RUNS");
    print_table(out, header, rows);
}

void print_sessions_json(std::ostream& out, const std::vector<storage::SessionRecord>& sessions,
                         storage::RequestReader& requests) {
    auto arr = nlohmann::json::array();
    for (const auto& s : sessions) {
        auto j = proto::to_json(storage::to_proto(s, {}, requests.requests_of_session(s)));
        j.erase("timeline");  // `show` has it
        add_legal_hold(j, s);
        arr.push_back(std::move(j));
    }
    out << dump_json_safe(arr, 2) << '\n';
}

namespace {

/// What the API server said of the pod (docs/pods.md), or that it was not known.
void print_workload(std::ostream& out, const storage::SessionRecord& s) {
    auto row = [&](std::string_view key, const std::string& value) { out << fmt::format("{:<13}{}\n", key, value); };
    if (s.cluster) row("Cluster", terminal_safe(*s.cluster));
    if (!s.pod_meta) {
        row("Workload", "? (the pod was not known from the API server when the session started)");
        return;
    }
    const auto& m = *s.pod_meta;
    auto ref = [](const std::string& kind, const std::string& name) { return terminal_safe(kind + "/" + name); };
    row("Workload", m.workload_kind.empty() ? "? (owners, but none is its controller)" : ref(m.workload_kind, m.workload_name));
    if (!m.owner_kind.empty()) row("Owner", ref(m.owner_kind, m.owner_name));
    if (!m.service_account.empty()) row("Service acct", terminal_safe(m.service_account));
    std::string labels;
    auto parsed = nlohmann::json::parse(m.labels_json, nullptr, false);
    if (parsed.is_object())
        for (const auto& [key, value] : parsed.items())
            if (value.is_string()) labels += (labels.empty() ? "" : ", ") + key + "=" + value.get<std::string>();
    if (m.labels_dropped) labels += fmt::format("{}({} more cut: too large)", labels.empty() ? "" : ", ", m.labels_dropped);
    row("Labels", labels.empty() ? "none" : terminal_safe(labels));
}

}  // namespace

void print_sessions_csv(std::ostream& out, const std::vector<storage::SessionRecord>& sessions) {
    out << "id,node,namespace,pod,pod_uid,container,container_id,leader_pid,tty,command,start,end,status,exit_code,"
           "attribution,user,commands,output_bytes,input_bytes,lost_bytes,lost_events,legal_hold,workload,cluster,runs\n";
    for (const auto& s : sessions) {
        std::vector<std::string> f = {
            s.id, utf8_lossy(s.node), utf8_lossy(s.namespace_name), utf8_lossy(s.pod), s.pod_uid,
            utf8_lossy(s.container), s.container_id, std::to_string(s.leader_pid), s.tty ? "true" : "false",
            join_argv(lossy(s.command)), format_rfc3339_us(s.start_ns), s.end_ns ? format_rfc3339_us(*s.end_ns) : "",
            s.status, s.exit_code ? std::to_string(*s.exit_code) : "", s.attribution, s.user ? utf8_lossy(*s.user) : "",
            std::to_string(s.commands), std::to_string(s.output_bytes), std::to_string(s.input_bytes),
            std::to_string(s.lost_bytes), std::to_string(s.lost_events), s.held ? "true" : "false",
            s.pod_meta && !s.pod_meta->workload_kind.empty()
                ? utf8_lossy(s.pod_meta->workload_kind + "/" + s.pod_meta->workload_name)
                : "",
            s.cluster ? utf8_lossy(*s.cluster) : "", std::to_string(s.runs)};
        out << csv_line(f);
    }
}

void print_session_table(std::ostream& out, const storage::SessionRecord& s,
                         const std::vector<storage::CommandRecord>& timeline,
                         const std::vector<storage::ExecRequestRecord>& requests) {
    auto row = [&](std::string_view key, const std::string& value) { out << fmt::format("{:<13}{}\n", key, value); };
    row("Session", terminal_safe(s.id));
    row("Node", terminal_safe(s.node));
    row("Pod", pod_of(s) + (s.pod_uid.empty() ? "" : fmt::format("  (uid {})", terminal_safe(s.pod_uid))));
    row("Container", (s.container.empty() ? "?" : terminal_safe(s.container)) +
                         (s.container_id.empty() ? "" : fmt::format("  (id {})", terminal_safe(s.container_id.substr(0, 12)))));
    row("Cgroup", terminal_safe(s.cgroup_path));
    print_workload(out, s);
    row("Command", terminal_safe(join_argv(lossy(s.command))));
    row("Started", format_rfc3339_us(s.start_ns));
    if (s.end_ns) {
        std::string end = format_rfc3339_us(*s.end_ns) + "  (" + format_duration(*s.end_ns - s.start_ns) + ")";
        row("Ended", end);
    }
    std::string status = terminal_safe(s.status);
    if (s.exit_code) status += fmt::format(", exit code {}", *s.exit_code);
    if (s.exit_signal) status += fmt::format(" (killed by signal {})", *s.exit_signal);
    row("Status", status);
    if (s.runs > 1) {
        // docs/kubelet-execs.md, "Folded runs": the same argv, tree and exit each time
        std::string runs = fmt::format("{} (the kubelet's identical runs, folded into this row: the first at its start",
                                       s.runs);
        if (s.last_run_ns) runs += ", the last at " + format_rfc3339_us(*s.last_run_ns);
        if (s.run_min_ns && s.run_max_ns)
            runs += fmt::format("; each {} to {}", run_duration(*s.run_min_ns), run_duration(*s.run_max_ns));
        row("Runs", runs + "; the timeline and output below are the first run's)");
    }
    if (s.held)
        row("Legal hold", fmt::format("since {} by {}: {} (retention never deletes it; `execaudit release` lifts it)",
                                      format_rfc3339_us(s.held_ns), terminal_safe(s.held_by), terminal_safe(s.hold_reason)));
    print_who(out, s, requests);
    row("Entered via", terminal_safe(s.entered_via) + fmt::format("  (leader pid {})", s.leader_pid));
    row("Terminal", s.tty ? fmt::format("yes, {}x{}", s.cols, s.rows) : "no");
    row("Bytes", fmt::format("{} out, {} in", s.output_bytes, s.input_bytes));
    if (s.lost_events || s.lost_bytes || s.start_lost)
        row("LOST", fmt::format("{} records, {} terminal bytes{}", s.lost_events, s.lost_bytes,
                                s.start_lost ? "; the session's first record was lost" : ""));
    out << "\nTimeline (" << timeline.size() << " commands)\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : timeline) {
        // what ran next to what was claimed: a fileless binary, or argv[0] naming another file
        std::string ran;
        if (c.exe_fileless) ran += fmt::format(" [FILELESS: ran {}]", terminal_safe(c.exe_path.empty() ? "?" : c.exe_path));
        else if (storage::argv0_mismatch(c)) ran += fmt::format(" [argv0 is not the file: ran {}]", terminal_safe(c.exe_path.empty() ? c.filename : c.exe_path));
        rows.push_back({"  " + format_rfc3339_us(c.time_ns), std::to_string(c.pid), std::to_string(c.ppid),
                        describe_retval(c.retval),
                        terminal_safe(join_argv(lossy(c.argv))) + (c.argv_truncated ? " [truncated]" : "") + ran});
    }
    print_table(out, {"  TIME", "PID", "PPID", "RESULT", "COMMAND"}, rows);
}

void print_session_json(std::ostream& out, const storage::SessionRecord& s,
                        const std::vector<storage::CommandRecord>& timeline,
                        const std::vector<storage::ExecRequestRecord>& requests) {
    auto j = proto::to_json(storage::to_proto(s, timeline, requests));
    add_legal_hold(j, s);
    out << dump_json_safe(j, 2) << '\n';
}

void print_requests_table(std::ostream& out, const std::vector<storage::ExecRequestRecord>& requests) {
    if (requests.empty()) {
        out << "no API requests match\n";
        return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : requests) {
        rows.push_back({short_time(r.received_ns), terminal_safe(r.state), terminal_safe(r.requester.user.empty() ? "-" : r.requester.user),
                        terminal_safe(r.namespace_name) + "/" + terminal_safe(r.pod), terminal_safe(r.container.empty() ? "-" : r.container),
                        terminal_safe(r.kind), r.response_code ? std::to_string(r.response_code) : "-",
                        r.session_id ? terminal_safe(*r.session_id) : "-", terminal_safe(join_argv(lossy(r.command)))});
    }
    print_table(out, {"RECEIVED (UTC)", "STATE", "USER", "NAMESPACE/POD", "CONTAINER", "KIND", "CODE", "SESSION", "COMMAND"}, rows);
}

void print_requests_json(std::ostream& out, const std::vector<storage::ExecRequestRecord>& requests) {
    auto arr = nlohmann::json::array();
    for (const auto& r : requests) arr.push_back(proto::to_json(storage::to_proto(r)));
    out << dump_json_safe(arr, 2) << '\n';
}

void print_requests_csv(std::ostream& out, const std::vector<storage::ExecRequestRecord>& requests) {
    out << "id,source,kind,state,received,user,namespace,pod,container,command,tty,response_code,session_id\n";
    for (const auto& r : requests) {
        std::vector<std::string> f = {r.id, r.source, r.kind, r.state, format_rfc3339_us(r.received_ns), utf8_lossy(r.requester.user),
                                      utf8_lossy(r.namespace_name), utf8_lossy(r.pod), utf8_lossy(r.container),
                                      join_argv(lossy(r.command)), r.tty ? "true" : "false", std::to_string(r.response_code),
                                      r.session_id.value_or("")};
        out << csv_line(f);
    }
}

std::string short_time(int64_t ns) {
    std::string t = format_rfc3339_us(ns);  // 2024-10-29T12:21:44.189258Z
    return t.substr(0, 10) + " " + t.substr(11, 8);
}

std::string user_of(const storage::SessionRecord& s) {
    if (s.user) return terminal_safe(*s.user) + (s.user_verified ? "" : " (unverified)");
    if (s.attribution != "pending" && s.attribution != "audit" && s.attribution != "admission") return "(" + terminal_safe(s.attribution) + ")";
    return "-";  // pending
}

std::string pod_of(const storage::SessionRecord& s) {
    if (s.pod.empty()) return s.pod_uid.empty() ? "?" : "pod " + terminal_safe(s.pod_uid);
    return terminal_safe(s.namespace_name) + "/" + terminal_safe(s.pod);
}

std::vector<std::string> lossy(const std::vector<std::string>& argv) {
    std::vector<std::string> out;
    for (const auto& a : argv) out.push_back(utf8_lossy(a));
    return out;
}

}  // namespace execaudit::cli
