#include "storage/postgres/pg_holds.h"

#include "common/errors.h"
#include "common/text.h"
#include "common/time_format.h"
#include "storage/postgres/pg_ledger.h"
#include "storage/postgres/pg_schema.h"
#include "storage/postgres/pg_store.h"

#include <fmt/format.h>

namespace execaudit::storage::pg {
namespace {

/// The full id of a stored session, its row locked against retention until the transaction ends
/// (retention skips a locked row; a deletion that began first is seen here once it committed).
std::string resolve(Connection& c, const std::string& given) {
    PgSessionStore store(c);
    PgLedger ledger(c);
    auto s = store.find(given);
    if (s) c.exec("SELECT 1 FROM sessions WHERE id = $1 FOR SHARE", {text(s->id)});
    auto t = ledger.tombstone(s ? s->id : given);
    refuse_a_deleted_session(t);
    if (!s) throw UsageError(s.error());
    return s->id;
}

void log_event(Connection& c, const std::string& id, const char* action, const std::string& reason, const std::string& actor,
               int64_t now_ns) {
    c.exec("INSERT INTO hold_log (session_id, action, reason, actor, time_ns) VALUES ($1, $2, $3, $4, $5)",
           {text(id), text(action), text(utf8_lossy(reason)), text(utf8_lossy(actor)), num(now_ns)});
}

template <typename Body>
std::vector<HoldChange> in_transaction(Connection& c, const char* what, Body body) {
    check_schema(c);
    try {
        Transaction tx(c);
        auto out = body();
        tx.commit();
        return out;
    } catch (const PgError& e) {
        // 42501 insufficient_privilege, 25006 read_only_sql_transaction: the reader's role
        if (e.sqlstate() == "42501" || e.sqlstate() == "25006")
            throw UsageError(fmt::format("a {} on the cluster store needs the collector's writing role (its --db, $EXECAUDIT_DB): "
                                         "the role in this --db may only read {}",
                                         what, c.label()));
        throw;
    }
}

}  // namespace

std::vector<HoldChange> hold_sessions(Connection& c, const std::vector<std::string>& ids, const std::string& reason,
                                      const std::string& actor, int64_t now_ns) {
    check_hold_text(reason, actor);
    return in_transaction(c, "hold", [&] {
        std::vector<HoldChange> out;
        for (const auto& given : ids) {
            HoldChange h{.session_id = resolve(c, given)};
            auto cur = c.exec("SELECT reason, held_by, held_ns FROM session_holds WHERE session_id = $1", {text(h.session_id)});
            if (cur.rows()) {
                h.note = fmt::format("held already since {} by {}: {}", format_rfc3339_us(cur.int64(0, 2)),
                                     terminal_safe(cur.text(0, 1)), terminal_safe(cur.text(0, 0)));
            } else {
                c.exec("INSERT INTO session_holds (session_id, reason, held_by, held_ns) VALUES ($1, $2, $3, $4)",
                       {text(h.session_id), text(utf8_lossy(reason)), text(utf8_lossy(actor)), num(now_ns)});
                log_event(c, h.session_id, "hold", reason, actor, now_ns);
                h.changed = true;
            }
            out.push_back(std::move(h));
        }
        return out;
    });
}

std::vector<HoldChange> release_sessions(Connection& c, const std::vector<std::string>& ids, const std::string& reason,
                                         const std::string& actor, int64_t now_ns) {
    check_hold_text(reason, actor);
    return in_transaction(c, "release", [&] {
        std::vector<HoldChange> out;
        for (const auto& given : ids) {
            HoldChange h{.session_id = resolve(c, given)};
            auto del = c.exec("DELETE FROM session_holds WHERE session_id = $1", {text(h.session_id)});
            if (del.affected() > 0) {
                log_event(c, h.session_id, "release", reason, actor, now_ns);
                h.changed = true;
            } else {
                h.note = "was not held";
            }
            out.push_back(std::move(h));
        }
        return out;
    });
}

}  // namespace execaudit::storage::pg
