// `execaudit hold ID...` / `execaudit release ID...`: legal hold. Retention never deletes a held
// session (storage/session_holds.h); each hold and release is recorded with who and why.
#include "cli/command.h"
#include "common/errors.h"
#include "common/text.h"
#include "common/time_format.h"
#include "storage/database.h"
#include "storage/postgres/pg_holds.h"
#include "storage/read_store.h"
#include "storage/session_holds.h"

#include <fmt/format.h>

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace execaudit::cli {
namespace {

struct HoldArgs {
    std::string db = default_db();
    std::vector<std::string> ids;
    std::string reason;
    std::string by;
};

/// Who runs it: the login behind sudo when there is one, else this user.
std::string default_actor() {
    uid_t uid = getuid();
    std::string name;
    if (const passwd* pw = getpwuid(uid)) name = pw->pw_name;
    else name = fmt::format("uid {}", uid);
    if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo && uid == 0) return fmt::format("{} (via sudo)", sudo);
    return name;
}

int run_hold(const HoldArgs& a, bool hold) {
    std::string actor = a.by.empty() ? default_actor() : a.by;
    std::vector<storage::HoldChange> changes;
    if (storage::is_cluster_store(a.db)) {
        // the cluster store: with the collector's writing role (a reader's is told so, exit 2)
        auto c = storage::pg::Connection::open(a.db);
        changes = hold ? storage::pg::hold_sessions(c, a.ids, a.reason, actor, wall_clock_ns())
                       : storage::pg::release_sessions(c, a.ids, a.reason, actor, wall_clock_ns());
    } else {
        auto db = storage::Database::open(a.db, storage::Database::Mode::read_write);
        changes = hold ? storage::hold_sessions(db, a.ids, a.reason, actor, wall_clock_ns())
                       : storage::release_sessions(db, a.ids, a.reason, actor, wall_clock_ns());
    }
    for (const auto& c : changes) {
        if (c.changed) std::cout << fmt::format("{}  {}\n", c.session_id, hold ? "held" : "released");
        else std::cout << fmt::format("{}  unchanged: {}\n", c.session_id, c.note);
    }
    return 0;
}

void add_one(CLI::App& app, Commands& commands, bool hold) {
    auto args = std::make_shared<HoldArgs>();
    auto* c = hold ? app.add_subcommand("hold", "Legal hold: retention never deletes these sessions, whatever their age and "
                                                "the size bounds, until they are released")
                   : app.add_subcommand("release", "Lift a legal hold: the sessions are kept by the retention rules again");
    add_db_option(c, args->db);
    c->add_option("ID", args->ids, "Session ids or unique prefixes (see `execaudit sessions`)")->required();
    c->add_option("--reason", args->reason, hold ? "Why (a case or ticket): recorded with the hold, shown by `show`"
                                                 : "Why the hold ends: recorded")
        ->required();
    c->add_option("--by", args->by, "Who asks (default: the user running it; with sudo, the user behind it)");
    c->footer(hold ? "All or nothing: an id that is not a stored session (mistyped, or deleted by retention already) is an\n"
                     "error and nothing is held. The database itself refuses to delete a held session. `sessions` marks\n"
                     "held sessions HELD, `show` and `--format json` (`legal_hold`) say since when, by whom and why.\n"
                     "On the cluster store (--db postgresql://...) the collector's retention keeps held sessions the same\n"
                     "way; a hold there needs the collector's writing role (the read-only role may not place one).\n"
                     "Examples:\n"
                     "  execaudit hold 3f2a9c0d 9b1e77a0 --reason 'incident INC-4711' --by alice@example.com\n"
                     "  execaudit hold 3f2a9c0d --reason 'INC-4711' --db postgresql://execaudit_collector@db/execaudit"
                   : "Example:\n"
                     "  execaudit release 3f2a9c0d --reason 'INC-4711 closed' --by alice@example.com");
    commands.push_back({c, [args, hold] { return run_hold(*args, hold); }});
}

}  // namespace

void add_hold_commands(CLI::App& app, Commands& commands) {
    add_one(app, commands, true);
    add_one(app, commands, false);
}

}  // namespace execaudit::cli
