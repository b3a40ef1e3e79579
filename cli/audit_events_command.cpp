// `execaudit audit-events`: the API's side of the story: exec requests with no session on this
// node (unrecorded), attempts that were denied, and every request with its correlation state.
#include "cli/command.h"
#include "cli/session_filter_options.h"
#include "cli/session_output.h"
#include "common/errors.h"
#include "common/time_format.h"
#include "storage/read_store.h"

#include <fmt/format.h>

#include <iostream>

namespace execaudit::cli {
namespace {

struct AuditEventsArgs {
    std::string db = default_db();
    std::vector<std::string> states;
    std::string since, until, namespace_name, pod, user;
    std::string format = "table";
    size_t limit = 0;
};

int run_audit_events(const AuditEventsArgs& a) {
    storage::RequestFilter f;
    f.states = a.states;
    auto range = to_time_range(a.since, a.until);
    f.since_ns = range.since_ns;
    f.until_ns = range.until_ns;
    auto opt = [](const std::string& v) { return v.empty() ? std::nullopt : std::optional<std::string>(v); };
    f.namespace_name = opt(a.namespace_name);
    f.pod = opt(a.pod);
    f.user = opt(a.user);
    if (a.limit) f.limit = a.limit;
    auto db = storage::open_read_store(a.db);
    auto requests = db->requests().list(f);
    if (a.format == "json") print_requests_json(std::cout, requests);
    else if (a.format == "csv") print_requests_csv(std::cout, requests);
    else print_requests_table(std::cout, requests);
    return 0;
}

}  // namespace

void add_audit_events_command(CLI::App& app, Commands& commands) {
    auto args = std::make_shared<AuditEventsArgs>();
    auto* cmd = app.add_subcommand("audit-events",
                                   "API requests to enter containers (kubectl exec/attach/debug) and what became of them: "
                                   "matched to a session, unrecorded (no session on this node), denied, ...");
    add_db_option(cmd, args->db);
    cmd->add_option("--state", args->states,
                    "Only these states; repeatable: pending, matched, ambiguous, unrecorded, denied, failed, observed")
        ->check(CLI::IsMember({"pending", "matched", "ambiguous", "unrecorded", "denied", "failed", "observed"}));
    cmd->add_option("--since", args->since, "Requests received at or after: RFC 3339 or a duration ago (2h)");
    cmd->add_option("--until", args->until, "Requests received before (same forms)");
    cmd->add_option("--namespace", args->namespace_name, "Pod namespace");
    cmd->add_option("--pod", args->pod, "Pod name");
    cmd->add_option("--user", args->user, "Kubernetes username");
    cmd->add_option("--format", args->format, "table, json or csv")
        ->check(CLI::IsMember({"table", "json", "csv"}))
        ->capture_default_str();
    cmd->add_option("--limit", args->limit, "At most this many");
    cmd->footer("Examples:\n  execaudit audit-events --state unrecorded --since 24h   # execs this node did not record\n"
                "  execaudit audit-events --state denied                    # attempts RBAC refused");
    commands.push_back({cmd, [args] { return run_audit_events(*args); }});
}

}  // namespace execaudit::cli
