#pragma once
// Each subcommand lives in its own file and registers itself here: its flags, its help, and
// the function that runs it. main.cpp only parses and dispatches.

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace execaudit::cli {

struct Command {
    CLI::App* app = nullptr;
    std::function<int()> run;  ///< throws UsageError (exit 2) or anything else (exit 1)
};
using Commands = std::vector<Command>;

/// $EXECAUDIT_DB, else /var/lib/execaudit/sessions.db.
std::string default_db();
/// The --db option every subcommand that reads the database takes.
void add_db_option(CLI::App* app, std::string& db);
/// --cluster-name: 1 to 253 printable characters, no spaces (it goes into syslog and ECS as is).
void add_cluster_name_option(CLI::App* app, std::string& name, const std::string& help);

void add_record_command(CLI::App& app, Commands& commands);
void add_trace_command(CLI::App& app, Commands& commands);
void add_detach_command(CLI::App& app, Commands& commands);
void add_sessions_commands(CLI::App& app, Commands& commands);  ///< sessions, show
void add_play_command(CLI::App& app, Commands& commands);
void add_audit_events_command(CLI::App& app, Commands& commands);
void add_export_command(CLI::App& app, Commands& commands);
void add_verify_command(CLI::App& app, Commands& commands);
void add_report_command(CLI::App& app, Commands& commands);
void add_collect_command(CLI::App& app, Commands& commands);
void add_hold_commands(CLI::App& app, Commands& commands);  ///< hold, release

}  // namespace execaudit::cli
