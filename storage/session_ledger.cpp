#include "storage/session_ledger.h"

#include "common/text.h"
#include "common/time_format.h"
#include "storage/recorder_restart.h"
#include "storage/session_chain.h"
#include "storage/tombstone_columns.h"

#include <fmt/format.h>

#include <map>
#include <set>

namespace execaudit::storage {
namespace {

constexpr const char* kTombstoneColumns =
    "session_id, node, namespace, pod, container, user, attribution, status, start_ns, end_ns, commands, output_bytes, "
    "lost_bytes, chain_head, chain_records, head_signature, signing_key, cause, rule, deleted_ns, completed_ns, stored_bytes";

TombstoneRecord read_tombstone(const Statement& st) {
    RowColumns c(st);
    return read_tombstone_row(c);
}

}  // namespace

LedgerEntry append_ledger(Database& db, const std::string& session_id, LedgerKind kind, int64_t time_ns,
                          const std::string& digest, const HeadSigner* signer) {
    LedgerEntry e{.session_id = session_id, .kind = kind, .time_ns = time_ns, .digest = digest};
    ChainHash prev{};
    auto last = db.prepare("SELECT position, hash FROM session_ledger ORDER BY position DESC LIMIT 1");
    if (last.step()) {
        e.position = last.column_int(0) + 1;
        from_bytes(last.column_blob(1), prev);
    } else {
        e.position = 1;
    }
    // AUTOINCREMENT never reuses a position: after a removed newest entry the next one shows the gap
    auto seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'session_ledger'");
    if (seq.step()) e.position = std::max(e.position, seq.column_int(0) + 1);
    e.hash = to_bytes(ledger_hash(prev, e.position, static_cast<int>(kind), session_id, time_ns, digest));
    if (signer) {
        e.signature = signer->sign(ledger_message(e.position, e.hash));
        e.signing_key = signer->key_id();
    }
    auto ins = db.prepare(
        "INSERT INTO session_ledger (position, session_id, kind, time_ns, digest, hash, signature, signing_key) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    ins.bind(1, e.position).bind(2, session_id).bind(3, int64_t{static_cast<int>(kind)}).bind(4, time_ns);
    ins.bind_blob(5, digest).bind_blob(6, e.hash);
    if (signer) ins.bind_blob(7, e.signature);
    else ins.bind_null(7);
    ins.bind(8, e.signing_key);
    ins.run();
    return e;
}

bool ledger_session(Database& db, const std::string& session_id, const HeadSigner* signer) {
    auto row = db.prepare(
        "SELECT s.start_ns, coalesce(s.chain_start, x''), EXISTS (SELECT 1 FROM session_ledger l WHERE l.session_id = s.id "
        "AND l.kind = 1) FROM sessions s WHERE s.id = ?1");
    row.bind(1, session_id);
    if (!row.step() || row.column_int(2) != 0) return false;
    int64_t start = row.column_int(0);
    std::string digest = row.column_blob(1);
    row.reset();
    append_ledger(db, session_id, LedgerKind::recorded, start, digest, signer);
    return true;
}

size_t backfill_ledger(Database& db, const HeadSigner* signer) {
    // Once per database: afterwards every session enters the ledger as it is first stored, so a
    // stored session without an entry is one put back by hand (or its entry removed), and entering
    // it now would launder that. verify names it instead.
    constexpr const char* kDone = "ledger_backfilled";
    if (get_recorder_state(db, kDone)) return 0;
    std::vector<std::string> ids;
    auto q = db.prepare(
        "SELECT id FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM session_ledger l WHERE l.session_id = s.id AND l.kind = 1) "
        "ORDER BY start_ns, id");
    while (q.step()) ids.push_back(q.column_text(0));
    Transaction tx(db);
    for (const auto& id : ids) ledger_session(db, id, signer);
    set_recorder_state(db, kDone, "1");
    tx.commit();
    return ids.size();
}

std::vector<LedgerEntry> SqliteLedger::entries() {
    std::vector<LedgerEntry> out;
    auto st = db_.prepare(
        "SELECT position, session_id, kind, time_ns, digest, hash, coalesce(signature, x''), signing_key FROM session_ledger "
        "ORDER BY position");
    while (st.step()) {
        LedgerEntry e;
        e.position = st.column_int(0);
        e.session_id = st.column_text(1);
        e.kind = static_cast<LedgerKind>(st.column_int(2));
        e.time_ns = st.column_int(3);
        e.digest = st.column_blob(4);
        e.hash = st.column_blob(5);
        e.signature = st.column_blob(6);
        e.signing_key = st.column_text(7);
        out.push_back(std::move(e));
    }
    return out;
}

std::vector<std::string> SqliteLedger::session_ids() {
    std::vector<std::string> out;
    auto st = db_.prepare("SELECT id FROM sessions");
    while (st.step()) out.push_back(st.column_text(0));
    return out;
}

std::map<std::string, uint64_t> SqliteLedger::folded_rows() {
    std::map<std::string, uint64_t> out;
    auto st = db_.prepare("SELECT id, runs FROM sessions WHERE runs <> 1");
    while (st.step()) out.emplace(st.column_text(0), static_cast<uint64_t>(st.column_int(1)));
    return out;
}

std::vector<TombstoneRecord> SqliteLedger::tombstones(std::optional<int64_t> since_ns, std::optional<int64_t> until_ns) {
    std::vector<TombstoneRecord> out;
    auto st = db_.prepare(fmt::format("SELECT {} FROM session_tombstones WHERE (?1 IS NULL OR end_ns IS NULL OR end_ns >= ?1) "
                                      "AND (?2 IS NULL OR start_ns < ?2) ORDER BY start_ns, session_id",
                                      kTombstoneColumns));
    st.bind(1, since_ns).bind(2, until_ns);
    while (st.step()) out.push_back(read_tombstone(st));
    return out;
}

std::optional<TombstoneRecord> SqliteLedger::tombstone(const std::string& given) {
    std::string id = given;
    for (auto& ch : id) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (id.size() < 4) return std::nullopt;
    auto st = db_.prepare(fmt::format(
        "SELECT {} FROM session_tombstones WHERE session_id >= ?1 AND session_id < ?1 || 'g' ORDER BY session_id LIMIT 2",
        kTombstoneColumns));
    st.bind(1, id);
    std::vector<TombstoneRecord> found;
    while (st.step()) found.push_back(read_tombstone(st));
    if (found.size() != 1) return std::nullopt;
    return found.front();
}

LedgerCheck verify_ledger(LedgerReader& ledger, const HeadVerifier* key, std::optional<int64_t> since_ns,
                          std::optional<int64_t> until_ns) {
    LedgerCheck out;
    auto entries = ledger.entries();
    out.entries = entries.size();
    auto in_range = [&](int64_t t) { return (!since_ns || t >= *since_ns) && (!until_ns || t < *until_ns); };
    auto problem = [&](std::string id, Integrity v, std::string detail, int64_t t) {
        out.problems.push_back({std::move(id), v, std::move(detail), t});
    };

    // The chain: positions 1, 2, ... with no gap, each hash over the one before, signed.
    ChainHash prev{};
    int64_t expect = 1;
    bool chain_broken = false;
    std::map<std::string, const LedgerEntry*> recorded, deleted;
    for (const auto& e : entries) {
        if (!chain_broken && e.position != expect) {
            problem("", Integrity::removed,
                    e.position > expect ? fmt::format("ledger entries {}..{} are missing: sessions were removed together with "
                                                      "their ledger entries", expect, e.position - 1)
                                        : fmt::format("ledger entry {} is out of order", e.position),
                    0);
            chain_broken = true;
        }
        if (!chain_broken && to_bytes(ledger_hash(prev, e.position, static_cast<int>(e.kind), e.session_id, e.time_ns,
                                                  e.digest)) != e.hash) {
            problem(e.session_id, Integrity::altered,
                    fmt::format("ledger entry {} ({} {}) does not match the ledger's chain: it was altered", e.position,
                                e.kind == LedgerKind::deleted ? "deletion of" : "recording of", terminal_safe(e.session_id)),
                    e.time_ns);
            chain_broken = true;
        }
        if (key) {
            if (e.signature.empty())
                problem(e.session_id, Integrity::unsigned_head, fmt::format("ledger entry {} carries no signature", e.position),
                        e.time_ns);
            else if (!key->verify_with(e.signing_key, ledger_message(e.position, e.hash), e.signature))
                problem(e.session_id, Integrity::bad_signature,
                        fmt::format("ledger entry {} is not signed by key {}", e.position, key->key_id()), e.time_ns);
        }
        from_bytes(e.hash, prev);
        expect = e.position + 1;
        (e.kind == LedgerKind::deleted ? deleted : recorded)[e.session_id] = &e;
    }

    std::set<std::string> stored;
    for (auto& id : ledger.session_ids()) stored.insert(std::move(id));
    std::map<std::string, TombstoneRecord> tombs;
    for (auto& t : ledger.tombstones(std::nullopt, std::nullopt)) tombs.emplace(t.session_id, std::move(t));

    for (const auto& [id, e] : recorded) {
        if (stored.count(id) || !in_range(e->time_ns)) continue;
        auto d = deleted.find(id);
        auto t = tombs.find(id);
        if (d == deleted.end() && t == tombs.end())  // the other cases are named with the tombstones below
            problem(id, Integrity::removed,
                    fmt::format("the session (started {}, ledger entry {}) is gone, and no retention rule deleted it",
                                format_rfc3339_us(e->time_ns), e->position),
                    e->time_ns);
    }
    for (const auto& id : stored)
        if (!recorded.count(id)) problem(id, Integrity::altered, "stored, but not in the ledger: inserted afterwards?", 0);
    // A row that counts folded runs: each of them is a tombstone (cause folded) naming it, intact in
    // the ledger, and nothing else. A count raised or lowered by hand, or a folded run's tombstone
    // pointed elsewhere, shows here.
    std::map<std::string, uint64_t> folded_into;
    for (const auto& [id, t] : tombs) {
        auto d = deleted.find(id);
        if (t.cause == "folded" && d != deleted.end() && to_bytes(tombstone_digest(t)) == d->second->digest)
            ++folded_into[t.folded_into()];
    }
    auto counted = ledger.folded_rows();
    auto check_runs = [&](const std::string& id, uint64_t runs) {
        auto f = folded_into.find(id);
        uint64_t folded = f == folded_into.end() ? 0 : f->second;
        auto r = recorded.find(id);
        int64_t t = r == recorded.end() ? 0 : r->second->time_ns;
        if (runs != folded + 1 && in_range(t))
            problem(id, Integrity::altered,
                    fmt::format("it counts {} runs, but {} folded into it are in the ledger (its own run makes {})", runs,
                                folded, folded + 1),
                    t);
    };
    for (const auto& [id, runs] : counted)
        if (stored.count(id)) check_runs(id, runs);
    for (const auto& [id, n] : folded_into)
        if (stored.count(id) && !counted.count(id)) check_runs(id, 1);
    for (auto& [id, t] : tombs) {
        bool range = (!since_ns || !t.end_ns || *t.end_ns >= *since_ns) && (!until_ns || t.start_ns < *until_ns);
        auto d = deleted.find(id);
        if (d == deleted.end()) {
            if (range)
                problem(id, Integrity::removed,
                        "a tombstone says retention deleted it, but the ledger has no such deletion: a removal dressed as one",
                        t.start_ns);
            continue;
        }
        if (to_bytes(tombstone_digest(t)) != d->second->digest) {
            if (range)
                problem(id, Integrity::altered, "its tombstone (what was deleted, when, by which rule) was altered", t.start_ns);
            continue;
        }
        if (range) out.deleted.push_back(std::move(t));
    }
    for (const auto& [id, d] : deleted)
        if (!tombs.count(id) && in_range(d->time_ns))
            problem(id, Integrity::removed, "deleted by retention, but its tombstone is gone", d->time_ns);
    return out;
}

}  // namespace execaudit::storage
