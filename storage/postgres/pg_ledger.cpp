#include "storage/postgres/pg_ledger.h"

#include "storage/session_chain.h"
#include "storage/tombstone_columns.h"

#include <fmt/format.h>

namespace execaudit::storage::pg {

const char* const kTombstoneColumns =
    "session_id, node, namespace, pod, container, username, attribution, status, start_ns, end_ns, commands, output_bytes, "
    "lost_bytes, chain_head, chain_records, head_signature, signing_key, cause, rule, deleted_ns, completed_ns, stored_bytes";

TombstoneRecord read_tombstone(const Result& r, int row) {
    RowColumns c(r, row);
    return read_tombstone_row(c);
}

LedgerEntry append_ledger(Connection& c, const std::string& session_id, LedgerKind kind, int64_t time_ns,
                          const std::string& digest, const HeadSigner* signer) {
    LedgerEntry e{.session_id = session_id, .kind = kind, .time_ns = time_ns, .digest = digest};
    // The head row: its lock orders every append of every replica; its position never goes back,
    // so an entry removed at the end leaves a hole that the next one shows.
    auto head = c.exec("SELECT position, hash FROM session_ledger_head WHERE one FOR UPDATE");
    ChainHash prev{};
    e.position = 1;
    if (head.rows()) {
        e.position = head.int64(0, 0) + 1;
        if (!head.is_null(0, 1)) from_bytes(head.bytes(0, 1), prev);
    }
    e.hash = to_bytes(ledger_hash(prev, e.position, static_cast<int>(kind), session_id, time_ns, digest));
    if (signer) {
        e.signature = signer->sign(ledger_message(e.position, e.hash));
        e.signing_key = signer->key_id();
    }
    c.exec("INSERT INTO session_ledger (position, session_id, kind, time_ns, digest, hash, signature, signing_key) "
           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
           {num(e.position), text(session_id), num(int64_t{static_cast<int>(kind)}), num(time_ns), bytes(digest), bytes(e.hash),
            signer ? bytes(e.signature) : null(), text(e.signing_key)});
    c.exec("INSERT INTO session_ledger_head (one, position, hash) VALUES (true, $1, $2) "
           "ON CONFLICT (one) DO UPDATE SET position = excluded.position, hash = excluded.hash",
           {num(e.position), bytes(e.hash)});
    return e;
}

size_t backfill_ledger(Connection& c, const HeadSigner* signer) {
    auto r = c.exec("SELECT id, start_ns, coalesce(chain_start, ''::bytea) FROM sessions s WHERE NOT EXISTS "
                    "(SELECT 1 FROM session_ledger l WHERE l.session_id = s.id AND l.kind = 1) "
                    "ORDER BY start_ns, id COLLATE \"C\"");
    for (int i = 0; i < r.rows(); ++i)
        append_ledger(c, r.text(i, 0), LedgerKind::recorded, r.int64(i, 1), r.bytes(i, 2), signer);
    return static_cast<size_t>(r.rows());
}

bool tombstoned(Connection& c, const std::string& session_id) {
    return c.exec("SELECT 1 FROM session_tombstones WHERE session_id = $1", {text(session_id)}).rows() > 0;
}

std::vector<LedgerEntry> PgLedger::entries() {
    std::vector<LedgerEntry> out;
    auto r = c_.exec("SELECT position, session_id, kind, time_ns, digest, hash, coalesce(signature, ''::bytea), signing_key "
                     "FROM session_ledger ORDER BY position");
    for (int i = 0; i < r.rows(); ++i) {
        LedgerEntry e;
        e.position = r.int64(i, 0);
        e.session_id = r.text(i, 1);
        e.kind = static_cast<LedgerKind>(r.int64(i, 2));
        e.time_ns = r.int64(i, 3);
        e.digest = r.bytes(i, 4);
        e.hash = r.bytes(i, 5);
        e.signature = r.bytes(i, 6);
        e.signing_key = r.text(i, 7);
        out.push_back(std::move(e));
    }
    return out;
}

std::vector<std::string> PgLedger::session_ids() {
    std::vector<std::string> out;
    auto r = c_.exec("SELECT id FROM sessions");
    for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
    return out;
}

std::vector<TombstoneRecord> PgLedger::tombstones(std::optional<int64_t> since_ns, std::optional<int64_t> until_ns) {
    auto r = c_.exec(fmt::format("SELECT {} FROM session_tombstones WHERE ($1::bigint IS NULL OR end_ns IS NULL OR end_ns >= $1) "
                                 "AND ($2::bigint IS NULL OR start_ns < $2) ORDER BY start_ns, session_id COLLATE \"C\"",
                                 kTombstoneColumns),
                     {num(since_ns), num(until_ns)});
    std::vector<TombstoneRecord> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_tombstone(r, i));
    return out;
}

std::optional<TombstoneRecord> PgLedger::tombstone(const std::string& given) {
    std::string id = given;
    for (auto& ch : id) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (id.size() < 4) return std::nullopt;
    for (char ch : id)
        if (!std::isxdigit(static_cast<unsigned char>(ch))) return std::nullopt;  // hexadecimal: no LIKE wildcard in it
    auto r = c_.exec(fmt::format("SELECT {} FROM session_tombstones WHERE session_id LIKE $1 || '%' ORDER BY session_id "
                                 "COLLATE \"C\" LIMIT 2",
                                 kTombstoneColumns),
                     {text(id)});
    if (r.rows() == 1 || (r.rows() > 1 && r.text(0, 0) == id)) return read_tombstone(r, 0);
    return std::nullopt;
}

}  // namespace execaudit::storage::pg
