// The report's four forms. Every string from a session or a request is hostile: tables get
// terminal_safe() and their format's escaping, CSV goes through csv_cell (spreadsheet formulas
// defused), JSON through dump_json_safe, HTML through html_text.
#include "cli/compliance_report.h"
#include "cli/session_output.h"
#include "common/json_output.h"
#include "common/text.h"
#include "common/time_format.h"
#include "proto_json.h"
#include "storage/session_chain.h"
#include "storage/session_proto.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace execaudit::cli {
namespace {

std::string time_or_dash(const std::optional<int64_t>& ns) { return ns ? format_rfc3339_us(*ns) : "-"; }

std::string duration(const storage::SessionRecord& s) {
    return s.end_ns ? format_duration(*s.end_ns - s.start_ns) : "open";
}

std::string who(const storage::SessionRecord& s) {
    if (s.user) return utf8_lossy(*s.user) + (s.user_verified ? "" : " (unverified)");
    return "(" + s.attribution + ")";
}

std::string where(const storage::SessionRecord& s) {
    return fmt::format("{}/{} {}", utf8_lossy(s.namespace_name), utf8_lossy(s.pod), utf8_lossy(s.container));
}

std::string exit_text(const storage::SessionRecord& s) { return s.exit_code ? std::to_string(*s.exit_code) : "-"; }

std::string md(std::string_view v) {
    std::string out;
    for (char c : terminal_safe(v)) {
        if (c == '|' || c == '\\' || c == '`' || c == '*' || c == '_' || c == '<' || c == '[') out += '\\';
        out += c;
    }
    return out.empty() ? "-" : out;
}

std::string html_text(std::string_view v) {
    std::string out;
    for (char c : terminal_safe(v)) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string findings_text(const ReportSession& e) {
    std::string out;
    for (const auto& f : e.findings) out += (out.empty() ? "" : "; ") + f;
    return out;
}

std::string request_line(const storage::ExecRequestRecord& q) {
    return fmt::format("{} {} {}/{} {} by {} ({}): {}", format_rfc3339_us(q.received_ns), q.kind, utf8_lossy(q.namespace_name),
                       utf8_lossy(q.pod), utf8_lossy(q.container), utf8_lossy(q.requester.user),
                       q.response_code ? std::to_string(q.response_code) : "-", join_argv(lossy(q.command)));
}

struct Finding {
    std::string title;
    uint64_t count;
};

std::vector<Finding> findings(const ComplianceReport& r) {
    return {{"Unattributed sessions (no API request: entered from the node)", r.unattributed},
            {"Allowed exec requests with no recorded session (unrecorded)", r.unrecorded.size()},
            {"Exec requests refused by authorization (denied)", r.denied.size()},
            {"Sessions with loss or gaps", r.with_loss},
            {"Bypass entries (nsenter from the node)", r.bypass},
            {"Sessions with fileless execs", r.fileless},
            {"Sessions that fail integrity verification (or removed without a retention rule)", r.integrity_failed},
            {"Sessions deleted by the size bounds before their retention ended", r.deleted_by_size}};
}

std::string deleted_line(const storage::TombstoneRecord& t) {
    return fmt::format("{} {}/{} {} on {}, by {}, {} to {}, {} commands: deleted {} {} by rule `{}`{}", t.session_id,
                       utf8_lossy(t.namespace_name), utf8_lossy(t.pod), utf8_lossy(t.container), utf8_lossy(t.node),
                       t.user ? utf8_lossy(*t.user) : "(" + t.attribution + ")", format_rfc3339_us(t.start_ns),
                       t.end_ns ? format_rfc3339_us(*t.end_ns) : "-", t.commands, format_rfc3339_us(t.deleted_ns),
                       t.cause == "size" ? "BEFORE ITS RETENTION ENDED, to stay within the size bounds" : "past its retention",
                       utf8_lossy(t.rule), t.completed_ns ? "" : " (in progress)");
}

// Runs, not rows: what the kubelet's folded rows stand for.
std::string runs_note(const ComplianceReport& r) {
    if (!r.kubelet_runs) return "";
    return fmt::format(" ({} of them the kubelet's probe and hook runs{})", r.kubelet_runs,
                       r.folded_runs ? fmt::format(", {} folded into the rows that count them", r.folded_runs) : "");
}

std::string problem_line(const storage::LedgerFinding& p) {
    return fmt::format("{} {}: {}", p.session_id.empty() ? "the ledger" : p.session_id, storage::integrity_name(p.verdict), p.detail);
}

}  // namespace

void write_report_markdown(std::ostream& out, const ComplianceReport& r) {
    out << "# execaudit compliance report\n\n";
    out << fmt::format("- Period: {} to {}\n", format_rfc3339_us(r.since_ns), format_rfc3339_us(r.until_ns));
    out << fmt::format("- Generated: {}\n", format_rfc3339_us(r.generated_ns));
    out << fmt::format("- Data source: {}\n", md(r.source));
    out << fmt::format("- Integrity: hash chains recomputed for every session; signatures {}\n\n",
                       r.signing_key.empty() ? "not checked (no --public-key)" : "checked with key " + r.signing_key);
    out << "## Findings\n\n| finding | count |\n|---|---|\n";
    for (const auto& f : findings(r)) out << fmt::format("| {} | {} |\n", f.title, f.count);
    out << fmt::format("\n{} sessions in the period{}.\n\n", r.runs, runs_note(r));
    out << "## Sessions per user\n\n| user | sessions | commands |\n|---|---|---|\n";
    for (const auto& [user, t] : r.by_user) out << fmt::format("| {} | {} | {} |\n", md(user), t.sessions, t.commands);
    out << "\n## Sessions per namespace\n\n| namespace | sessions | commands |\n|---|---|---|\n";
    for (const auto& [ns, t] : r.by_namespace) out << fmt::format("| {} | {} | {} |\n", md(ns), t.sessions, t.commands);
    out << "\n## Sessions\n\n| session | who | where | node | start | end | duration | commands | exit | attribution | "
           "integrity | command | findings |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& e : r.sessions) {
        const auto& s = e.session;
        out << fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", md(s.id), md(who(s)),
                           md(where(s)), md(s.node), format_rfc3339_us(s.start_ns), time_or_dash(s.end_ns), duration(s),
                           s.commands, exit_text(s), md(s.attribution), storage::integrity_name(e.integrity),
                           md(join_argv(lossy(s.command))), md(findings_text(e)));
    }
    auto requests = [&](const char* title, const std::vector<storage::ExecRequestRecord>& list) {
        out << fmt::format("\n## {}\n\n", title);
        if (list.empty()) out << "None.\n";
        for (const auto& q : list) out << "- " << md(request_line(q)) << '\n';
    };
    requests("Unrecorded requests", r.unrecorded);
    requests("Denied requests", r.denied);
    out << "\n## Deleted by retention\n\n";
    if (!r.ledger_checked) out << "Not known: this store keeps no session ledger yet.\n";
    else if (r.deleted.empty()) out << "None.\n";
    for (const auto& t : r.deleted) out << "- " << md(deleted_line(t)) << '\n';
    if (!r.ledger_problems.empty()) {
        out << "\n## Removed without a retention rule\n\n";
        for (const auto& p : r.ledger_problems) out << "- " << md(problem_line(p)) << '\n';
    }
}

void write_report_csv(std::ostream& out, const ComplianceReport& r) {
    std::vector<std::string> header = {"session", "user", "attribution", "namespace", "pod", "container", "node", "start", "end",
                                       "duration_s", "commands", "exit_code", "entered_via", "command", "lost_bytes",
                                       "lost_events", "fileless_execs", "integrity", "integrity_detail", "findings",
                                       "report_since", "report_until", "report_generated", "report_source"};
    auto line = [&](const std::vector<std::string>& fields) {
        std::string l;
        for (size_t i = 0; i < fields.size(); ++i) l += (i ? "," : "") + csv_cell(fields[i]);
        out << l << "\r\n";  // RFC 4180
    };
    line(header);
    for (const auto& e : r.sessions) {
        const auto& s = e.session;
        line({s.id, s.user ? utf8_lossy(*s.user) : "", s.attribution, utf8_lossy(s.namespace_name), utf8_lossy(s.pod),
              utf8_lossy(s.container), utf8_lossy(s.node), format_rfc3339_us(s.start_ns), s.end_ns ? format_rfc3339_us(*s.end_ns) : "",
              s.end_ns ? fmt::format("{:.3f}", static_cast<double>(*s.end_ns - s.start_ns) / 1e9) : "", std::to_string(s.commands),
              s.exit_code ? std::to_string(*s.exit_code) : "", utf8_lossy(s.entered_via), join_argv(lossy(s.command)),
              std::to_string(s.lost_bytes), std::to_string(s.lost_events), std::to_string(e.fileless_execs),
              storage::integrity_name(e.integrity), e.integrity_detail, findings_text(e), format_rfc3339_us(r.since_ns),
              format_rfc3339_us(r.until_ns), format_rfc3339_us(r.generated_ns), r.source});
    }
    for (const auto& t : r.deleted)
        line({t.session_id, t.user ? utf8_lossy(*t.user) : "", t.attribution, utf8_lossy(t.namespace_name), utf8_lossy(t.pod),
              utf8_lossy(t.container), utf8_lossy(t.node), format_rfc3339_us(t.start_ns), t.end_ns ? format_rfc3339_us(*t.end_ns) : "",
              t.end_ns ? fmt::format("{:.3f}", static_cast<double>(*t.end_ns - t.start_ns) / 1e9) : "", std::to_string(t.commands),
              "", "", "", std::to_string(t.lost_bytes), "", "", "deleted", deleted_line(t),
              t.cause == "size" ? "deleted by the size bounds before its retention ended" : "", format_rfc3339_us(r.since_ns),
              format_rfc3339_us(r.until_ns), format_rfc3339_us(r.generated_ns), r.source});
    for (const auto& p : r.ledger_problems) {
        std::vector<std::string> row(header.size());
        row[0] = p.session_id;
        row[7] = p.time_ns ? format_rfc3339_us(p.time_ns) : "";
        row[17] = storage::integrity_name(p.verdict);
        row[18] = p.detail;
        row[19] = problem_line(p);
        row[20] = format_rfc3339_us(r.since_ns);
        row[21] = format_rfc3339_us(r.until_ns);
        row[22] = format_rfc3339_us(r.generated_ns);
        row[23] = r.source;
        line(row);
    }
}

void write_report_json(std::ostream& out, const ComplianceReport& r) {
    using nlohmann::json;
    json j;
    j["report"] = {{"since", format_rfc3339_us(r.since_ns)},
                   {"until", format_rfc3339_us(r.until_ns)},
                   {"generated", format_rfc3339_us(r.generated_ns)},
                   {"source", r.source},
                   {"signing_key", r.signing_key.empty() ? json(nullptr) : json(r.signing_key)}};
    json f = json::object();
    f["unattributed_sessions"] = r.unattributed;
    f["unrecorded_requests"] = r.unrecorded.size();
    f["denied_requests"] = r.denied.size();
    f["sessions_with_loss"] = r.with_loss;
    f["bypass_entries"] = r.bypass;
    f["sessions_with_fileless_execs"] = r.fileless;
    f["integrity_failures"] = r.integrity_failed;
    f["deleted_by_size_bounds"] = r.deleted_by_size;
    f["removed_sessions"] = r.ledger_problems.size();
    j["findings"] = f;
    j["runs"] = r.runs;  // sessions in the period, each folded run counted
    j["kubelet_runs"] = r.kubelet_runs;
    j["folded_runs"] = r.folded_runs;
    auto tallies = [](const std::map<std::string, Tally>& m, const char* key) {
        json a = json::array();
        for (const auto& [name, t] : m) a.push_back({{key, name}, {"sessions", t.sessions}, {"commands", t.commands}});
        return a;
    };
    j["per_user"] = tallies(r.by_user, "user");
    j["per_namespace"] = tallies(r.by_namespace, "namespace");
    j["integrity"] = r.integrity;
    json sessions = json::array();
    for (const auto& e : r.sessions) {
        json s = proto::to_json(storage::to_proto(e.session));  // the proto schema's session
        s["integrity"] = {{"status", storage::integrity_name(e.integrity)}, {"detail", e.integrity_detail}};
        s["fileless_execs"] = e.fileless_execs;
        s["findings"] = e.findings;
        sessions.push_back(std::move(s));
    }
    j["sessions"] = std::move(sessions);
    auto requests = [](const std::vector<storage::ExecRequestRecord>& list) {
        json a = json::array();
        for (const auto& q : list) a.push_back(proto::to_json(storage::to_proto(q)));
        return a;
    };
    j["unrecorded_requests"] = requests(r.unrecorded);
    j["denied_requests"] = requests(r.denied);
    json deleted = json::array();
    for (const auto& t : r.deleted)
        deleted.push_back({{"id", t.session_id}, {"node", utf8_lossy(t.node)}, {"namespace", utf8_lossy(t.namespace_name)},
                           {"pod", utf8_lossy(t.pod)}, {"container", utf8_lossy(t.container)},
                           {"user", t.user ? json(utf8_lossy(*t.user)) : json(nullptr)}, {"attribution", t.attribution},
                           {"start", format_rfc3339_us(t.start_ns)}, {"end", t.end_ns ? json(format_rfc3339_us(*t.end_ns)) : json(nullptr)},
                           {"commands", t.commands}, {"output_bytes", t.output_bytes}, {"lost_bytes", t.lost_bytes},
                           {"chain_head", storage::to_hex(t.chain_head)}, {"chain_records", t.chain_records},
                           {"cause", t.cause}, {"rule", utf8_lossy(t.rule)}, {"deleted", format_rfc3339_us(t.deleted_ns)},
                           {"complete", t.completed_ns.has_value()}});
    j["deleted_sessions"] = r.ledger_checked ? deleted : json(nullptr);
    json removed = json::array();
    for (const auto& p : r.ledger_problems)
        removed.push_back({{"id", p.session_id.empty() ? json(nullptr) : json(p.session_id)},
                           {"status", storage::integrity_name(p.verdict)}, {"detail", p.detail}});
    j["removed_sessions"] = removed;
    out << dump_json_safe(j, 2) << '\n';
}

void write_report_html(std::ostream& out, const ComplianceReport& r) {
    out << R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>execaudit compliance report</title>
<style>
body { font: 14px/1.45 "DejaVu Sans", Helvetica, Arial, sans-serif; color: #1b1f24; margin: 2em auto; max-width: 1200px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #d0d7de; }
dl.params { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; color: #444; }
dl.params dt { font-weight: bold; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { border: 1px solid #d0d7de; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #f3f4f6; } tr:nth-child(even) td { background: #fafbfc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: .92em; word-break: break-all; }
td.id code { white-space: nowrap; word-break: normal; } td.findings { min-width: 16em; }
table.sessions { font-size: .9em; }
.bad { color: #b42318; font-weight: bold; } .ok { color: #1a7f37; } .warn { color: #9a6700; }
.finding td:first-child { width: 75%; }
@media print { body { margin: 0; max-width: none; font-size: 10pt; } h2 { break-after: avoid; }
  tr { break-inside: avoid; } thead { display: table-header-group; } th { background: #eee !important; } }
</style></head><body>
<h1>execaudit compliance report</h1>
<dl class="params">
)";
    out << fmt::format("<dt>Period</dt><dd>{} to {}</dd>\n", format_rfc3339_us(r.since_ns), format_rfc3339_us(r.until_ns));
    out << fmt::format("<dt>Generated</dt><dd>{}</dd>\n", format_rfc3339_us(r.generated_ns));
    out << fmt::format("<dt>Data source</dt><dd><code>{}</code></dd>\n", html_text(r.source));
    out << fmt::format("<dt>Integrity</dt><dd>hash chains recomputed for every session; signatures {}</dd>\n</dl>\n",
                       r.signing_key.empty() ? "not checked (no --public-key)" : "checked with key " + html_text(r.signing_key));
    out << "<h2>Findings</h2>\n<table class=\"finding\"><thead><tr><th>finding</th><th>count</th></tr></thead><tbody>\n";
    for (const auto& f : findings(r))
        out << fmt::format("<tr><td>{}</td><td class=\"num {}\">{}</td></tr>\n", html_text(f.title), f.count ? "bad" : "ok", f.count);
    out << fmt::format("</tbody></table>\n<p>{} sessions in the period{}.</p>\n", r.runs, html_text(runs_note(r)));
    auto tally = [&](const char* title, const char* key, const std::map<std::string, Tally>& m) {
        out << fmt::format("<h2>{}</h2>\n<table><thead><tr><th>{}</th><th>sessions</th><th>commands</th></tr></thead><tbody>\n",
                           title, key);
        for (const auto& [name, t] : m)
            out << fmt::format("<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n", html_text(name),
                               t.sessions, t.commands);
        out << "</tbody></table>\n";
    };
    tally("Sessions per user", "user", r.by_user);
    tally("Sessions per namespace", "namespace", r.by_namespace);
    out << "<h2>Sessions</h2>\n<table class=\"sessions\"><thead><tr><th>session</th><th>who</th><th>where</th><th>node</th>"
           "<th>start</th><th>duration</th><th>commands</th><th>exit</th><th>attribution</th><th>integrity</th>"
           "<th>command</th><th>findings</th></tr></thead><tbody>\n";
    for (const auto& e : r.sessions) {
        const auto& s = e.session;
        bool bad = storage::integrity_failed(e.integrity);
        out << fmt::format(
            "<tr><td class=\"id\"><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"time\">{}</td><td>{}</td><td class=\"num\">{}</td>"
            "<td class=\"num\">{}</td><td>{}</td><td class=\"{}\" title=\"{}\">{}</td><td><code>{}</code></td><td class=\"findings {}\">{}</td></tr>\n",
            html_text(s.id), html_text(who(s)), html_text(where(s)), html_text(s.node), format_rfc3339_us(s.start_ns),
            duration(s), s.commands, exit_text(s), html_text(s.attribution), bad ? "bad" : "ok", html_text(e.integrity_detail),
            storage::integrity_name(e.integrity), html_text(join_argv(lossy(s.command))), e.findings.empty() ? "" : "warn",
            html_text(findings_text(e)));
    }
    out << "</tbody></table>\n";
    auto requests = [&](const char* title, const std::vector<storage::ExecRequestRecord>& list) {
        out << fmt::format("<h2>{}</h2>\n", title);
        if (list.empty()) {
            out << "<p>None.</p>\n";
            return;
        }
        out << "<table><thead><tr><th>received</th><th>kind</th><th>where</th><th>user</th><th>response</th><th>command</th>"
               "</tr></thead><tbody>\n";
        for (const auto& q : list)
            out << fmt::format("<tr><td>{}</td><td>{}</td><td>{}/{} {}</td><td>{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>\n",
                               format_rfc3339_us(q.received_ns), html_text(q.kind), html_text(q.namespace_name),
                               html_text(q.pod), html_text(q.container), html_text(q.requester.user), q.response_code,
                               html_text(join_argv(lossy(q.command))));
        out << "</tbody></table>\n";
    };
    requests("Unrecorded requests", r.unrecorded);
    requests("Denied requests", r.denied);
    out << "<h2>Deleted by retention</h2>\n";
    if (!r.ledger_checked) out << "<p>Not known: this store keeps no session ledger yet.</p>\n";
    else if (r.deleted.empty()) out << "<p>None.</p>\n";
    else {
        out << "<table><thead><tr><th>session</th><th>who</th><th>where</th><th>start</th><th>end</th><th>commands</th>"
               "<th>deleted</th><th>rule</th></tr></thead><tbody>\n";
        for (const auto& t : r.deleted)
            out << fmt::format("<tr><td class=\"id\"><code>{}</code></td><td>{}</td><td>{}/{} {}</td><td>{}</td><td>{}</td>"
                               "<td class=\"num\">{}</td><td>{}</td><td class=\"{}\"><code>{}</code>{}</td></tr>\n",
                               html_text(t.session_id), html_text(t.user ? *t.user : "(" + t.attribution + ")"),
                               html_text(t.namespace_name), html_text(t.pod), html_text(t.container), format_rfc3339_us(t.start_ns),
                               t.end_ns ? format_rfc3339_us(*t.end_ns) : "-", t.commands, format_rfc3339_us(t.deleted_ns),
                               t.cause == "size" ? "bad" : "", html_text(t.rule),
                               t.cause == "size" ? " before its retention ended (size bounds)" : "");
        out << "</tbody></table>\n";
    }
    if (!r.ledger_problems.empty()) {
        out << "<h2>Removed without a retention rule</h2>\n<ul>\n";
        for (const auto& p : r.ledger_problems) out << "<li class=\"bad\">" << html_text(problem_line(p)) << "</li>\n";
        out << "</ul>\n";
    }
    out << "</body></html>\n";
}

}  // namespace execaudit::cli
