#include "storage/postgres/pg_retention.h"

#include "common/log.h"
#include "common/time_format.h"
#include "storage/postgres/pg_ledger.h"
#include "storage/session_chain.h"
#include "storage/tombstone_columns.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <limits>

namespace execaudit::storage::pg {
namespace {

/// The oldest position every configured destination has exported (nullopt: none configured, so
/// nothing gates deletion). A destination that never exported has confirmed nothing.
std::optional<int64_t> export_floor(Connection& c, const RetentionPolicy& policy) {
    if (policy.export_cursors.empty()) return std::nullopt;
    int64_t floor = std::numeric_limits<int64_t>::max();
    for (const auto& name : policy.export_cursors) {
        auto r = c.exec("SELECT position FROM export_cursor WHERE name = $1", {text(name)});
        floor = std::min(floor, r.rows() ? r.int64(0, 0) : int64_t{0});
    }
    return floor;
}

// Exported: every outbox row of the session has a position (the leader gives them to committed
// rows only) and every cursor is at or past it. $E: the floor, NULL for no destination.
constexpr const char* kExported =
    "($E::bigint IS NULL OR NOT EXISTS (SELECT 1 FROM export_outbox o WHERE o.session_id = s.id AND "
    "(o.position IS NULL OR o.position > $E::bigint)))";

std::string with_floor(std::string sql, const char* param) {
    for (size_t at; (at = sql.find("$E")) != std::string::npos;) sql.replace(at, 2, param);
    return sql;
}

}  // namespace

PgRetention::PgRetention(std::string db_uri, RetentionPolicy policy, std::shared_ptr<const HeadSigner> signer, Options options)
    : uri_(std::move(db_uri)), policy_(std::move(policy)), signer_(std::move(signer)), options_(options) {}

PgRetention::~PgRetention() { stop(); }

void PgRetention::start() {
    stop();
    stop_ = false;
    thread_ = std::thread([this] {
        std::optional<Connection> c;
        for (;;) {
            try {
                if (!c || !c->ok()) c.emplace(Connection::open(uri_));
                run_pass(*c, wall_clock_ns());
            } catch (const std::exception& e) {
                log::warn("retention: the pass failed ({}); the next one retries", e.what());
                std::lock_guard lock(mutex_);
                ++stats_.failed_passes;
                c.reset();
            }
            std::unique_lock lock(mutex_);
            if (wake_.wait_for(lock, options_.interval, [&] { return stopping(); })) return;
        }
    });
}

void PgRetention::stop() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

PgRetention::Stats PgRetention::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void PgRetention::pause() {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, options_.pause, [&] { return stopping(); });
}

PgRetention::Pass PgRetention::run_pass(Connection& c, int64_t now_ns) {
    Pass pass;
    // Deletions a pass began (a stop, a crash, a change of leader) are finished first.
    auto unfinished = c.exec("SELECT session_id FROM session_tombstones WHERE completed_ns IS NULL ORDER BY deleted_ns");
    for (int i = 0; i < unfinished.rows() && !stopping(); ++i)
        if (finish_deletion(c, unfinished.text(i, 0), now_ns)) ++pass.finished;

    if (auto cutoff = age_cutoff(policy_, now_ns); cutoff && !stopping()) {
        std::optional<int64_t> floor = export_floor(c, policy_);
        // keyset pages over (ended, id): a long list of kept sessions is read once per pass
        int64_t after_t = std::numeric_limits<int64_t>::min();
        std::string after_id;
        for (;;) {
            auto r = c.exec(with_floor(fmt::format(
                                           "SELECT s.id, s.namespace, s.t, EXISTS (SELECT 1 FROM session_holds h WHERE h.session_id = s.id), "
                                           "{} FROM (SELECT id, namespace, coalesce(end_ns, nullif(last_activity_ns, 0), start_ns) AS t "
                                           "FROM sessions WHERE status <> 'open') s "
                                           "WHERE s.t < $1 AND (s.t > $2 OR (s.t = $2 AND s.id COLLATE \"C\" > $3)) "
                                           "AND NOT EXISTS (SELECT 1 FROM session_tombstones x WHERE x.session_id = s.id) "
                                           "ORDER BY s.t, s.id COLLATE \"C\" LIMIT 500",
                                           kExported),
                                       "$4"),
                            {num(*cutoff), num(after_t), text(after_id), num(floor)});
            if (r.rows() == 0) break;
            for (int i = 0; i < r.rows() && !stopping(); ++i) {
                RetentionCandidate cand{.id = r.text(i, 0), .namespace_name = r.text(i, 1), .ended_ns = r.int64(i, 2),
                                        .held = r.boolean(i, 3), .exported = r.boolean(i, 4)};
                auto j = judge_by_age(policy_, cand, now_ns);
                if (j.verdict == AgeVerdict::held) ++pass.held_kept;
                else if (j.verdict == AgeVerdict::unexported) ++pass.unexported_kept;
                else if (j.verdict == AgeVerdict::expired && delete_session(c, cand.id, "age", j.rule.text, now_ns, pass))
                    ++pass.deleted_by_age;
            }
            after_t = r.int64(r.rows() - 1, 2);
            after_id = r.text(r.rows() - 1, 0);
            if (stopping() || r.rows() < 500) break;
        }
    }
    if (!stopping()) delete_by_size(c, now_ns, pass);
    if (pass.deleted_by_age || pass.finished)
        log::info("retention: deleted {} sessions of the cluster store past their rule ({:.1f} MiB of terminal data){}{}{}",
                  pass.deleted_by_age, static_cast<double>(pass.stored_bytes_deleted) / (1 << 20),
                  pass.finished ? fmt::format("; finished {} deletions begun earlier", pass.finished) : "",
                  pass.held_kept ? fmt::format("; {} past their rule kept by a legal hold", pass.held_kept) : "",
                  pass.unexported_kept ? fmt::format("; {} past their rule wait for an export destination", pass.unexported_kept)
                                       : "");
    std::lock_guard lock(mutex_);
    ++stats_.passes;
    stats_.deleted_by_age += pass.deleted_by_age;
    stats_.deleted_by_size += pass.deleted_by_size;
    if (pass.stored_bytes) {
        stats_.stored_bytes = pass.stored_bytes;
        stats_.size_unmet = pass.size_unmet;
    }
    stats_.stored_bytes_deleted += pass.stored_bytes_deleted;
    stats_.held_kept = pass.held_kept;
    stats_.unexported_kept = pass.unexported_kept;
    return pass;
}

void PgRetention::delete_by_size(Connection& c, int64_t now_ns, Pass& pass) {
    if (policy_.max_db_size.off()) return;
    const uint64_t cap = policy_.max_db_size.bytes;  // bytes only: collect refuses a share ("25%")
    const std::string rule = "max-db-size " + policy_.max_db_size.text;
    // What the sessions hold; a session being deleted (its tombstone written) is gone already.
    auto measure = [&] {
        auto r = c.exec("SELECT coalesce(sum(s.stored_bytes), 0) FROM sessions s "
                        "WHERE NOT EXISTS (SELECT 1 FROM session_tombstones x WHERE x.session_id = s.id)");
        return static_cast<uint64_t>(r.int64(0, 0));
    };
    uint64_t total = measure();
    std::optional<int64_t> floor = export_floor(c, policy_);
    std::vector<std::string> by_size;
    // the oldest ended, unheld, exported sessions, in keyset pages over (ended, id)
    int64_t after_t = std::numeric_limits<int64_t>::min();
    std::string after_id;
    bool exhausted = false;
    while (total > cap && !stopping()) {
        auto r = c.exec(with_floor(fmt::format(
                                       "SELECT s.id, s.t FROM (SELECT id, coalesce(end_ns, nullif(last_activity_ns, 0), start_ns) AS t "
                                       "FROM sessions WHERE status <> 'open') s "
                                       "WHERE (s.t > $1 OR (s.t = $1 AND s.id COLLATE \"C\" > $2)) "
                                       "AND NOT EXISTS (SELECT 1 FROM session_holds h WHERE h.session_id = s.id) "
                                       "AND NOT EXISTS (SELECT 1 FROM session_tombstones x WHERE x.session_id = s.id) "
                                       "AND {} ORDER BY s.t, s.id COLLATE \"C\" LIMIT 100",
                                       kExported),
                                   "$3"),
                        {num(after_t), text(after_id), num(floor)});
        if (r.rows() == 0) {
            exhausted = true;
            break;
        }
        for (int i = 0; i < r.rows() && total > cap && !stopping(); ++i) {
            std::string id = r.text(i, 0);
            uint64_t freed = 0;
            // false: changed under us (held, resent, locked by an upload): the next one, the next pass looks again
            if (!delete_session(c, id, "size", rule, now_ns, pass, &freed)) continue;
            ++pass.deleted_by_size;
            by_size.push_back(id);
            total -= std::min(total, freed);
        }
        after_t = r.int64(r.rows() - 1, 1);
        after_id = r.text(r.rows() - 1, 0);
    }
    if (stopping()) return;
    if (total > cap) total = measure();  // uploads went on meanwhile: the truth before saying it cannot be met
    pass.stored_bytes = total;
    if (total > cap && exhausted) {
        auto count = [&](const char* sql) { return c.exec(sql).int64(0, 0); };
        pass.size_unmet = true;
        pass.unmet = fmt::format(
            "{} ({:.1f} MiB stored in the sessions); nothing more may be deleted: {} sessions open, {} held, {} ended and unheld "
            "but not yet exported by every --export-* destination",
            rule, static_cast<double>(total) / (1 << 20),
            count("SELECT count(*) FROM sessions s WHERE status = 'open' "
                  "AND NOT EXISTS (SELECT 1 FROM session_tombstones x WHERE x.session_id = s.id)"),
            count("SELECT count(*) FROM session_holds"),
            c.exec(with_floor(fmt::format("SELECT count(*) FROM sessions s WHERE status <> 'open' "
                                          "AND NOT EXISTS (SELECT 1 FROM session_holds h WHERE h.session_id = s.id) "
                                          "AND NOT EXISTS (SELECT 1 FROM session_tombstones x WHERE x.session_id = s.id) "
                                          "AND NOT {}",
                                          kExported),
                              "$1"),
                   {num(floor)})
                .int64(0, 0));
        if (!unmet_logged_) log::warn("retention: cannot satisfy {}", pass.unmet);
        unmet_logged_ = true;
    } else if (total <= cap) {
        if (unmet_logged_) log::info("retention: the cluster store is within {} again", rule);
        unmet_logged_ = false;
    }
    if (!by_size.empty())
        log::warn("retention: deleted {} sessions of the cluster store before their retention period ended, oldest first, to stay "
                  "within {} (each is a tombstone with cause `size`; `execaudit report` lists them): {}{}",
                  by_size.size(), rule,
                  fmt::join(by_size.begin(), by_size.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(by_size.size(), 10)), ", "),
                  by_size.size() > 10 ? ", ..." : "");
}

bool PgRetention::delete_session(Connection& c, const std::string& id, const char* cause, const std::string& rule,
                                 int64_t now_ns, Pass& pass, uint64_t* held_bytes) {
    TombstoneRecord t;
    {
        Transaction tx(c);
        // The ledger's head before the session's row: an ingest holds a session's row and then
        // waits for the head, so the row is only tried (SKIP LOCKED), never waited for.
        c.exec("SELECT 1 FROM session_ledger_head WHERE one FOR UPDATE");
        auto r = c.exec(with_floor(fmt::format(
                                       "SELECT s.node, s.namespace, s.pod, s.container, s.username, s.attribution, s.status, s.start_ns, "
                                       "s.end_ns, s.commands, s.output_bytes, s.lost_bytes, coalesce(s.chain_head, ''::bytea), "
                                       "s.chain_records, coalesce(s.head_signature, ''::bytea), s.signing_key, "
                                       "EXISTS (SELECT 1 FROM session_holds h WHERE h.session_id = s.id), "
                                       "EXISTS (SELECT 1 FROM session_tombstones x WHERE x.session_id = s.id), "
                                       "(SELECT coalesce(sum(length(k.data)), 0) FROM io_chunks k WHERE k.session_id = s.id), {}, "
                                       "s.stored_bytes "
                                       "FROM sessions s WHERE s.id = $1 FOR UPDATE OF s SKIP LOCKED",
                                       kExported),
                                   "$2"),
                        {text(id), num(export_floor(c, policy_))});
        // re-checked under the row's lock: a hold, an upload or a change of export may have come since
        if (r.rows() == 0 || r.text(0, 6) == "open" || r.boolean(0, 16) || r.boolean(0, 17) || !r.boolean(0, 19)) return false;
        t.session_id = id;
        RowColumns subject(r, 0);
        read_tombstone_subject(subject, t);
        t.stored_bytes = static_cast<uint64_t>(r.int64(0, 18));
        t.cause = cause;
        if (held_bytes) *held_bytes = static_cast<uint64_t>(r.int64(0, 20));
        t.rule = rule;
        t.deleted_ns = now_ns;
        c.exec(fmt::format("INSERT INTO session_tombstones ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
                           "$14, $15, $16, $17, $18, $19, $20, NULL, $21)",
                           kTombstoneColumns),
               {text(t.session_id), text(t.node), text(t.namespace_name), text(t.pod), text(t.container), text(t.user),
                text(t.attribution), text(t.status), num(t.start_ns), num(t.end_ns), num(static_cast<int64_t>(t.commands)),
                num(static_cast<int64_t>(t.output_bytes)), num(static_cast<int64_t>(t.lost_bytes)), bytes(t.chain_head),
                num(static_cast<int64_t>(t.chain_records)), bytes(t.head_signature), text(t.signing_key), text(t.cause),
                text(t.rule), num(t.deleted_ns), num(static_cast<int64_t>(t.stored_bytes))});
        append_ledger(c, id, LedgerKind::deleted, now_ns, to_bytes(tombstone_digest(t)), signer_.get());
        tx.commit();
    }
    pass.stored_bytes_deleted += t.stored_bytes;
    pass.deleted_ids.push_back(id);
    finish_deletion(c, id, now_ns);  // or the next pass, when stopping
    return true;
}

bool PgRetention::finish_deletion(Connection& c, const std::string& id, int64_t now_ns) {
    // terminal chunks, then commands, a batch per transaction, then the row (and with it its outbox rows)
    auto batches = [&](const char* table, size_t batch) {
        for (;;) {
            if (stopping()) return false;
            auto r = c.exec(fmt::format("DELETE FROM {0} WHERE session_id = $1 AND seq IN (SELECT seq FROM {0} WHERE session_id = $1 "
                                        "ORDER BY seq LIMIT $2)",
                                        table),
                            {text(id), num(static_cast<int64_t>(batch))});
            if (r.affected() == 0) return true;
            pause();
        }
    };
    if (!batches("io_chunks", options_.chunk_batch) || !batches("commands", options_.command_batch)) return false;
    Transaction tx(c);
    if (c.exec("SELECT 1 FROM session_holds WHERE session_id = $1", {text(id)}).rows()) {
        // cannot happen through execaudit (a hold refuses a session being deleted); said, not hidden
        log::error("retention: session {} is held while being deleted; its row stays, its records are gone", id);
        return false;
    }
    c.exec("DELETE FROM session_candidates WHERE session_id = $1", {text(id)});
    c.exec("DELETE FROM sessions WHERE id = $1", {text(id)});
    c.exec("UPDATE session_tombstones SET completed_ns = $2 WHERE session_id = $1", {text(id), num(now_ns)});
    tx.commit();
    return true;
}

}  // namespace execaudit::storage::pg
