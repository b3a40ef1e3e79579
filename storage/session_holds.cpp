#include "storage/session_holds.h"

#include "common/errors.h"
#include "common/text.h"
#include "common/time_format.h"
#include "storage/session_ledger.h"
#include "storage/session_store.h"

#include <fmt/format.h>

namespace execaudit::storage {
namespace {

std::string resolve(Database& db, const std::string& given) {
    SessionStore store(db);
    auto s = store.find(given);
    SqliteLedger ledger(db);
    auto t = ledger.tombstone(s ? s->id : given);
    refuse_a_deleted_session(t);
    if (!s) throw UsageError(s.error());
    return s->id;
}

void log_event(Database& db, const std::string& id, const char* action, const std::string& reason, const std::string& actor,
               int64_t now_ns) {
    auto st = db.prepare("INSERT INTO hold_log (session_id, action, reason, actor, time_ns) VALUES (?1, ?2, ?3, ?4, ?5)");
    st.bind(1, id).bind(2, std::string_view(action)).bind(3, reason).bind(4, actor).bind(5, now_ns);
    st.run();
}

}  // namespace

void refuse_a_deleted_session(const std::optional<TombstoneRecord>& t) {
    if (t && t->completed_ns)
        throw UsageError(fmt::format("session {} was deleted by retention at {} (rule: {}): there is nothing left to hold",
                                     t->session_id, format_rfc3339_us(t->deleted_ns), terminal_safe(t->rule)));
    if (t)
        throw UsageError(fmt::format("session {} is being deleted by retention since {} (rule: {}): its records are going",
                                     t->session_id, format_rfc3339_us(t->deleted_ns), terminal_safe(t->rule)));
}

void check_hold_text(const std::string& reason, const std::string& actor) {
    if (reason.empty()) throw UsageError("--reason is required: say why (a ticket, a case number), it is recorded");
    if (reason.size() > 4096 || actor.size() > 256) throw UsageError("--reason is at most 4096 bytes, --by 256");
}

std::vector<HoldChange> hold_sessions(Database& db, const std::vector<std::string>& ids, const std::string& reason,
                                      const std::string& actor, int64_t now_ns) {
    check_hold_text(reason, actor);
    Transaction tx(db);
    std::vector<HoldChange> out;
    for (const auto& given : ids) {
        HoldChange c{.session_id = resolve(db, given)};
        auto cur = db.prepare("SELECT reason, held_by, held_ns FROM session_holds WHERE session_id = ?1");
        cur.bind(1, c.session_id);
        if (cur.step()) {
            c.note = fmt::format("held already since {} by {}: {}", format_rfc3339_us(cur.column_int(2)),
                                 terminal_safe(cur.column_text(1)), terminal_safe(cur.column_text(0)));
        } else {
            auto ins = db.prepare("INSERT INTO session_holds (session_id, reason, held_by, held_ns) VALUES (?1, ?2, ?3, ?4)");
            ins.bind(1, c.session_id).bind(2, reason).bind(3, actor).bind(4, now_ns);
            ins.run();
            log_event(db, c.session_id, "hold", reason, actor, now_ns);
            c.changed = true;
        }
        out.push_back(std::move(c));
    }
    tx.commit();
    return out;
}

std::vector<HoldChange> release_sessions(Database& db, const std::vector<std::string>& ids, const std::string& reason,
                                         const std::string& actor, int64_t now_ns) {
    check_hold_text(reason, actor);
    Transaction tx(db);
    std::vector<HoldChange> out;
    for (const auto& given : ids) {
        HoldChange c{.session_id = resolve(db, given)};
        auto del = db.prepare("DELETE FROM session_holds WHERE session_id = ?1");
        del.bind(1, c.session_id);
        del.run();
        if (sqlite3_changes(db.handle()) > 0) {
            log_event(db, c.session_id, "release", reason, actor, now_ns);
            c.changed = true;
        } else {
            c.note = "was not held";
        }
        out.push_back(std::move(c));
    }
    tx.commit();
    return out;
}

std::vector<HoldEvent> hold_history(Database& db, const std::string& session_id) {
    std::vector<HoldEvent> out;
    auto st = db.prepare("SELECT session_id, action, reason, actor, time_ns FROM hold_log WHERE session_id = ?1 ORDER BY id");
    st.bind(1, session_id);
    while (st.step())
        out.push_back({st.column_text(0), st.column_text(1), st.column_text(2), st.column_text(3), st.column_int(4)});
    return out;
}

}  // namespace execaudit::storage
