// `execaudit sessions` and `execaudit show`: finding sessions and reading one.
#include "cli/command.h"
#include "cli/session_filter_options.h"
#include "cli/session_output.h"
#include "cli/session_picker.h"
#include "common/errors.h"
#include "common/time_format.h"
#include "storage/read_store.h"

#include <fmt/format.h>

#include <unistd.h>

#include <iostream>

namespace execaudit::cli {
namespace {

struct ListArgs {
    std::string db = default_db();
    SessionFilterArgs filters;
    std::string format = "table";
    size_t limit = 0;
    bool pick = false;
    std::string entered_via;  ///< only sessions that came in this way (probe, hook, runc, ...)
    bool all = false;         ///< the kubelet's own runs too
};

int run_sessions(const ListArgs& a) {
    auto filter = to_session_filter(a.filters);
    // The kubelet's probe and hook runs are listed only when asked for: the limit counts what is shown.
    bool filtering = !a.all || !a.entered_via.empty();
    if (a.limit && !filtering) filter.limit = a.limit;
    if (a.pick && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
        throw UsageError("--pick is interactive and needs a terminal (stdin and stdout); without it, sessions are listed");
    auto db = storage::open_read_store(a.db);
    auto& store = db->sessions();
    auto sessions = store.list(filter);
    if (filtering) {
        std::erase_if(sessions, [&](const storage::SessionRecord& s) {
            if (!a.entered_via.empty()) return s.entered_via != a.entered_via;
            return s.attribution == "kubelet";
        });
        if (a.limit && sessions.size() > a.limit) sessions.resize(a.limit);
    }
    if (a.pick) {
        if (sessions.empty()) {
            std::cout << "no sessions match\n";
            return 0;
        }
        return pick_and_play(store, sessions, {});
    }
    auto& requests = db->requests();
    if (a.format == "json") print_sessions_json(std::cout, sessions, requests);
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
    auto db = storage::open_read_store(a.db);
    auto& store = db->sessions();
    auto session = store.find(a.id);
    if (!session) throw UsageError(session.error());
    auto timeline = store.commands(session->id);
    auto requests = db->requests().requests_of_session(session->id);
    if (a.format == "json") print_session_json(std::cout, *session, timeline, requests);
    else print_session_table(std::cout, *session, timeline, requests);
    return 0;
}

}  // namespace

void add_sessions_commands(CLI::App& app, Commands& commands) {
    auto list = std::make_shared<ListArgs>();
    auto* ls = app.add_subcommand("sessions", "List recorded sessions, newest first");
    add_db_option(ls, list->db);
    add_session_filter_options(ls, list->filters);
    ls->add_option("--format", list->format, "table, json or csv")
        ->check(CLI::IsMember({"table", "json", "csv"}))
        ->capture_default_str();
    ls->add_option("--limit", list->limit, "At most this many sessions");
    ls->add_option("--entered-via", list->entered_via,
                   "Only sessions that came in this way: runc (exec), probe or hook (the kubelet's own runs, hidden "
                   "otherwise), attach, debug, nsenter, adopted")
        ->type_name("HOW");
    ls->add_flag("--all", list->all, "Also the kubelet's own exec probe and hook runs (attribution kubelet)");
    ls->add_flag("--pick", list->pick,
                 "Browse the sessions on the terminal: type to filter, arrows to move, Enter plays one (q in the player comes "
                 "back to the list), Esc quits");
    ls->footer(
        "Examples:\n  execaudit sessions --since 24h --command passwd\n  execaudit sessions --format json | jq '.[].id'\n"
        "  execaudit sessions --pick --namespace shop    # choose one and replay it");
    commands.push_back({ls, [list] { return run_sessions(*list); }});

    auto show = std::make_shared<ShowArgs>();
    auto* sh = app.add_subcommand("show", "One session: metadata, attribution and its command timeline");
    add_db_option(sh, show->db);
    sh->add_option("ID", show->id, "Session id, or a unique prefix of at least 4 characters")->required();
    sh->add_option("--format", show->format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
    commands.push_back({sh, [show] { return run_show(*show); }});
}

}  // namespace execaudit::cli
