// execaudit: one binary, one subcommand per job (each in its own *_command.cpp). The contract
// (names, flags, JSON fields, exit statuses) is cli.md: bad input gives one line on stderr and
// exit 2, a runtime failure 1.

#include "cli/command.h"
#include "cli/config_file.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/text.h"

#include <fmt/format.h>

#include <cstdlib>
#include <iostream>

namespace execaudit::cli {

std::string default_db() {
    const char* env = std::getenv("EXECAUDIT_DB");
    return env && *env ? env : "/var/lib/execaudit/sessions.db";
}

void add_db_option(CLI::App* app, std::string& db) {
    app->add_option("--db", db,
                    "The node's SQLite database, or the cluster's store as a PostgreSQL URI (postgresql://USER@HOST/DB; "
                    "default: $EXECAUDIT_DB, else /var/lib/execaudit/sessions.db)")
        ->type_name("PATH");
}

void add_cluster_name_option(CLI::App* app, std::string& name, const std::string& help) {
    app->add_option("--cluster-name", name, help)
        ->type_name("NAME")
        ->check(CLI::Validator(
            [](std::string& v) -> std::string {
                if (v.empty() || v.size() > 253) return "a cluster name has 1 to 253 characters";
                for (unsigned char c : v)
                    if (c < 0x21 || c == 0x7F) return "a cluster name has no spaces or control characters";
                return "";
            },
            "NAME"));
}

namespace {

// CLI11 prints usage on errors; execaudit prints one line and exits 2.
int parse_failure(const CLI::App& app, const CLI::Error& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
        std::cout << app.help();
        return 0;
    }
    std::cerr << fmt::format("execaudit: {} (see `execaudit --help`)\n", e.what());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"execaudit: records what happens inside `kubectl exec` sessions and replays it.\n"
                 "Run `execaudit SUBCOMMAND --help` for each subcommand's flags."};
    app.name("execaudit");
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Every subcommand's help");
    std::string log_level;
    app.add_option("--log-level", log_level, "debug, info (default), warn or error; also $EXECAUDIT_LOG")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    app.footer(
        "Examples:\n"
        "  execaudit record                         # the node agent (root; a DaemonSet)\n"
        "  execaudit sessions --since 2h --namespace shop\n"
        "  execaudit show 3f2a9c0d                  # metadata and command timeline\n"
        "  execaudit play 3f2a9c0d --cat            # the final screen as text\n"
        "  execaudit export --since 24h             # JSON lines for a SIEM (docs/export.md)\n");

    Commands commands;
    add_record_command(app, commands);
    add_trace_command(app, commands);
    add_detach_command(app, commands);
    add_sessions_commands(app, commands);
    add_play_command(app, commands);
    add_audit_events_command(app, commands);
    add_export_command(app, commands);
    add_verify_command(app, commands);
    add_report_command(app, commands);
    add_collect_command(app, commands);
    add_hold_commands(app, commands);

    auto* help = app.add_subcommand("help", "Help for a subcommand: execaudit help SUBCOMMAND");
    std::string help_topic;
    help->add_option("SUBCOMMAND", help_topic);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return parse_failure(app, e);
    }
    if (!log_level.empty()) {
        log::Level l;
        if (log::parse_level(log_level, l)) log::set_level(l);
    }

    try {
        if (*help) {
            if (help_topic.empty()) {
                std::cout << app.help();
                return 0;
            }
            for (const auto& c : commands)
                if (c.app->get_name() == help_topic) {
                    std::cout << c.app->help();
                    return 0;
                }
            throw UsageError(fmt::format("no subcommand '{}' (see `execaudit --help`)", terminal_safe(help_topic)));
        }
        for (const auto& c : commands) {
            if (!*c.app) continue;
            if (print_config_requested(*c.app)) {
                std::cout << effective_config(*c.app);
                return 0;
            }
            return c.run();
        }
    } catch (const UsageError& e) {
        std::cerr << "execaudit: " << e.what() << '\n';
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "execaudit: " << e.what() << '\n';
        return 1;
    }
    return 2;
}

}  // namespace execaudit::cli

int main(int argc, char** argv) { return execaudit::cli::main(argc, argv); }
