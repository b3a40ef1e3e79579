// execaudit: one binary, one subcommand per job. The contract (names, flags, JSON fields, exit
// statuses) is docs/cli.md: bad input gives one line on stderr and exit 2, a runtime failure 1.

#include "cli/session_output.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/text.h"
#include "common/time_format.h"
#include "recorder/recorder.h"
#include "recorder/trace.h"
#include "replay/final_screen.h"
#include "storage/session_store.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdlib>
#include <iostream>

namespace execaudit::cli {
namespace {

constexpr const char* kDefaultDb = "/var/lib/execaudit/sessions.db";

std::string default_db() {
    const char* env = std::getenv("EXECAUDIT_DB");
    return env && *env ? env : kDefaultDb;
}

void add_db_option(CLI::App* app, std::string& db) {
    app->add_option("--db", db, "SQLite database (default: $EXECAUDIT_DB, else /var/lib/execaudit/sessions.db)")
        ->type_name("PATH");
}

struct ListArgs {
    std::string db = default_db();
    std::string since, until, user, namespace_name, pod, container, command;
    bool unattributed = false;
    std::string format = "table";
    size_t limit = 0;
};

storage::SessionFilter to_filter(const ListArgs& a) {
    storage::SessionFilter f;
    int64_t now = wall_clock_ns();
    auto time_arg = [&](const std::string& flag, const std::string& v) -> std::optional<int64_t> {
        if (v.empty()) return std::nullopt;
        auto t = parse_time_filter(v, now);
        if (!t) throw UsageError(fmt::format("{}: {}", flag, t.error()));
        return *t;
    };
    f.since_ns = time_arg("--since", a.since);
    f.until_ns = time_arg("--until", a.until);
    if (f.since_ns && f.until_ns && *f.since_ns > *f.until_ns) throw UsageError("--since is after --until");
    auto opt = [](const std::string& v) { return v.empty() ? std::nullopt : std::optional<std::string>(v); };
    f.user = opt(a.user);
    f.namespace_name = opt(a.namespace_name);
    f.pod = opt(a.pod);
    f.container = opt(a.container);
    f.command = opt(a.command);
    f.unattributed_only = a.unattributed;
    if (a.limit) f.limit = a.limit;
    return f;
}

int run_sessions(const ListArgs& a) {
    auto filter = to_filter(a);
    auto db = storage::Database::open(a.db, storage::Database::Mode::read_only);
    storage::SessionStore store(db);
    auto sessions = store.list(filter);
    if (a.format == "json") print_sessions_json(std::cout, sessions);
    else if (a.format == "csv") print_sessions_csv(std::cout, sessions);
    else print_sessions_table(std::cout, sessions);
    return 0;
}

struct ShowArgs {
    std::string db = default_db();
    std::string id;
    std::string format = "table";
};

int run_show(const ShowArgs& a) {
    auto db = storage::Database::open(a.db, storage::Database::Mode::read_only);
    storage::SessionStore store(db);
    auto session = store.find(a.id);
    if (!session) throw UsageError(session.error());
    auto timeline = store.commands(session->id);
    if (a.format == "json") print_session_json(std::cout, *session, timeline);
    else print_session_table(std::cout, *session, timeline);
    return 0;
}

struct PlayArgs {
    std::string db = default_db();
    std::string id;
    bool cat = false;
    double speed = 1.0;
    double idle_limit = 2.0;
};

int run_play(const PlayArgs& a) {
    if (!a.cat)
        throw UsageError("the interactive player is not in this build yet; use `execaudit play ID --cat` for the final screen");
    auto db = storage::Database::open(a.db, storage::Database::Mode::read_only);
    storage::SessionStore store(db);
    auto session = store.find(a.id);
    if (!session) throw UsageError(session.error());
    if (!session->tty) {
        std::cerr << fmt::format("session {} has no terminal (a non-tty exec): nothing to replay; see `execaudit show {}`\n",
                                 session->id, session->id);
        return 0;
    }
    auto screen = replay::render_final_screen(store, *session);
    if (!screen) throw RuntimeError(fmt::format("session {}: {}", session->id, screen.error()));
    for (const auto& line : screen->lines) std::cout << line << '\n';
    if (screen->gaps)
        std::cerr << fmt::format("note: {} gaps in this session: the kernel lost {} terminal bytes\n", screen->gaps,
                                 session->lost_bytes);
    return 0;
}

// CLI11 prints usage on errors; execaudit prints one line and exits 2.
int parse_failure(const CLI::App& app, const CLI::Error& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
        std::cout << app.help();
        return 0;
    }
    std::string name = app.get_name();
    std::cerr << fmt::format("{}: {} (see `{} --help`)\n", name, e.what(), name);
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
        "  execaudit play 3f2a9c0d --cat            # the final screen as text\n");

    recorder::RecordOptions record;
    record.db_path = default_db();
    auto* rec = app.add_subcommand("record", "The node agent: loads the BPF programs and records every exec session into "
                                             "the pod containers until SIGTERM/SIGINT, then flushes and exits 0");
    add_db_option(rec, record.db_path);
    rec->add_option("--cgroup-root", record.cgroup_roots,
                    "Pod cgroup root to watch, relative to the cgroup2 mount (/kubepods) or absolute; repeatable. "
                    "Default: the kubelet's (/kubepods.slice, /kubepods)")
        ->type_name("PATH");
    rec->add_option("--node-name", record.node_name, "Node name stored with each session (default: hostname)");
    rec->add_option("--pods-log-dir", record.pods_log_dir, "The kubelet's pod log directory")->capture_default_str();
    rec->add_option("--containers-log-dir", record.containers_log_dir, "The kubelet's container log symlinks")
        ->capture_default_str();
    rec->add_option("--ring-buffer-mb", record.ring_buffer_mb, "Kernel ring buffer size in MiB (rounded up to a power of two)")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));

    recorder::TraceOptions trace;
    auto* tr = app.add_subcommand("trace", "Debugging: print the raw kernel events as JSON lines until interrupted (stores nothing)");
    tr->add_option("--cgroup-root", trace.cgroup_roots, "As for record; repeatable")->type_name("PATH");
    tr->add_option("--ring-buffer-mb", trace.ring_buffer_mb, "Kernel ring buffer size in MiB")->capture_default_str()->check(
        CLI::Range(1, 1024));

    ListArgs list;
    auto* ls = app.add_subcommand("sessions", "List recorded sessions, newest first");
    add_db_option(ls, list.db);
    ls->add_option("--since", list.since, "Sessions still running at or after this time: RFC 3339 (2024-10-29T12:00:00Z) or a duration ago (2h, 30m, 7d)");
    ls->add_option("--until", list.until, "Sessions started before this time (same forms)");
    ls->add_option("--user", list.user, "Kubernetes username");
    ls->add_option("--namespace", list.namespace_name, "Pod namespace");
    ls->add_option("--pod", list.pod, "Pod name");
    ls->add_option("--container", list.container, "Container name");
    ls->add_option("--command", list.command, "Substring of any command the session ran");
    ls->add_flag("--unattributed", list.unattributed, "Only sessions no API request accounts for");
    ls->add_option("--format", list.format, "table, json or csv")->check(CLI::IsMember({"table", "json", "csv"}))->capture_default_str();
    ls->add_option("--limit", list.limit, "At most this many sessions");
    ls->footer("Examples:\n  execaudit sessions --since 24h --command passwd\n  execaudit sessions --format json | jq '.[].id'");

    ShowArgs show;
    auto* sh = app.add_subcommand("show", "One session: metadata, attribution and its command timeline");
    add_db_option(sh, show.db);
    sh->add_option("ID", show.id, "Session id, or a unique prefix of at least 4 characters")->required();
    sh->add_option("--format", show.format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();

    PlayArgs play;
    auto* pl = app.add_subcommand("play", "Replay a session's terminal through an emulator (recorded bytes never reach your terminal)");
    add_db_option(pl, play.db);
    pl->add_option("ID", play.id, "Session id, or a unique prefix")->required();
    pl->add_flag("--cat", play.cat, "Print the session's final screen as plain text and exit (no terminal needed)");
    pl->add_option("--speed", play.speed, "Playback speed factor")->capture_default_str()->check(CLI::Range(0.25, 16.0));
    pl->add_option("--idle-limit", play.idle_limit, "Shorten pauses longer than this many seconds")->capture_default_str()->check(
        CLI::NonNegativeNumber);

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
            for (auto* sub : app.get_subcommands({}))
                if (sub->get_name() == help_topic) {
                    std::cout << sub->help();
                    return 0;
                }
            throw UsageError(fmt::format("no subcommand '{}'", terminal_safe(help_topic)));
        }
        if (*rec) return recorder::run_record(record);
        if (*tr) return recorder::run_trace(trace);
        if (*ls) return run_sessions(list);
        if (*sh) return run_show(show);
        if (*pl) return run_play(play);
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
