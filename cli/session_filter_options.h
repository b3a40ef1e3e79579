#pragma once
// The session filters `sessions` and `export` share, so time filters and names behave exactly
// the same in both: the flags, their help and their parsing.

#include "storage/session_store.h"

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace execaudit::cli {

struct SessionFilterArgs {
    std::string since, until, user, namespace_name, pod, container, command;
    bool unattributed = false;
    std::string label;     ///< KEY=VALUE
    std::string workload;  ///< NAME or KIND/NAME
};

/// --since --until --user --namespace --pod --container --command --unattributed --label --workload
void add_session_filter_options(CLI::App* app, SessionFilterArgs& args);

/// Throws UsageError for a bad time ("--since: ...") or --since after --until, a --label without
/// '=' or a --workload that is not NAME or KIND/NAME.
storage::SessionFilter to_session_filter(const SessionFilterArgs& args);

struct TimeRange {
    std::optional<int64_t> since_ns, until_ns;
};
/// --since and --until (empty: not given) as `sessions` reads them; throws UsageError like
/// to_session_filter. `audit-events` uses it too.
TimeRange to_time_range(const std::string& since, const std::string& until);

}  // namespace execaudit::cli
