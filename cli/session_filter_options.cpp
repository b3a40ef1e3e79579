#include "cli/session_filter_options.h"

#include "common/errors.h"
#include "common/text.h"
#include "common/time_format.h"

#include <fmt/format.h>

namespace execaudit::cli {

void add_session_filter_options(CLI::App* app, SessionFilterArgs& a) {
    app->add_option("--since", a.since,
                    "Sessions still running at or after this time: RFC 3339 (2024-10-29T12:00:00Z) or a duration ago "
                    "(2h, 30m, 7d)");
    app->add_option("--until", a.until, "Sessions started before this time (same forms)");
    app->add_option("--user", a.user, "Kubernetes username");
    app->add_option("--namespace", a.namespace_name, "Pod namespace");
    app->add_option("--pod", a.pod, "Pod name");
    app->add_option("--container", a.container, "Container name");
    app->add_option("--command", a.command, "Substring of any command the session ran");
    app->add_flag("--unattributed", a.unattributed, "Only sessions no API request accounts for");
    app->add_option("--label", a.label,
                    "Only sessions whose pod carried this label when they started (from the API server, docs/pods.md)")
        ->type_name("KEY=VALUE");
    app->add_option("--workload", a.workload,
                    "Only sessions in pods of this workload: its name (web) or kind and name (Deployment/web, "
                    "StatefulSet/db, CronJob/backup, Pod/debug)")
        ->type_name("[KIND/]NAME");
}

TimeRange to_time_range(const std::string& since, const std::string& until) {
    int64_t now = wall_clock_ns();
    auto time_arg = [&](const char* flag, const std::string& v) -> std::optional<int64_t> {
        if (v.empty()) return std::nullopt;
        auto t = parse_time_filter(v, now);
        if (!t) throw UsageError(fmt::format("{}: {}", flag, t.error()));
        return *t;
    };
    TimeRange r{time_arg("--since", since), time_arg("--until", until)};
    if (r.since_ns && r.until_ns && *r.since_ns > *r.until_ns) throw UsageError("--since is after --until");
    return r;
}

storage::SessionFilter to_session_filter(const SessionFilterArgs& a) {
    storage::SessionFilter f;
    auto range = to_time_range(a.since, a.until);
    f.since_ns = range.since_ns;
    f.until_ns = range.until_ns;
    auto opt = [](const std::string& v) { return v.empty() ? std::nullopt : std::optional<std::string>(v); };
    f.user = opt(a.user);
    f.namespace_name = opt(a.namespace_name);
    f.pod = opt(a.pod);
    f.container = opt(a.container);
    f.command = opt(a.command);
    f.unattributed_only = a.unattributed;
    if (!a.label.empty()) {
        auto eq = a.label.find('=');
        if (eq == std::string::npos || eq == 0)
            throw UsageError(fmt::format("--label '{}': give KEY=VALUE (app=web)", terminal_safe(a.label)));
        f.label = std::pair(a.label.substr(0, eq), a.label.substr(eq + 1));
    }
    if (!a.workload.empty()) {
        auto slash = a.workload.find('/');
        if (slash == std::string::npos) {
            f.workload_name = a.workload;
        } else {
            f.workload_kind = a.workload.substr(0, slash);
            f.workload_name = a.workload.substr(slash + 1);
            if (f.workload_kind->empty() || f.workload_name->empty() || f.workload_name->find('/') != std::string::npos)
                throw UsageError(fmt::format("--workload '{}': give NAME or KIND/NAME (Deployment/web)",
                                             terminal_safe(a.workload)));
        }
    }
    return f;
}

}  // namespace execaudit::cli
