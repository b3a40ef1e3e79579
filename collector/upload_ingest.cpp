#include "collector/upload_ingest.h"

#include "common/time_format.h"
#include "storage/chain_verify.h"
#include "storage/postgres/pg_ledger.h"
#include "storage/postgres/pg_store.h"
#include "storage/postgres/pg_writer.h"
#include "storage/upload_records.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

namespace execaudit::collector {
namespace pg = storage::pg;
namespace v1 = upload::v1;

const char* refusal_name(Refusal r) {
    switch (r) {
        case Refusal::none: return "none";
        case Refusal::malformed: return "malformed";
        case Refusal::node_mismatch: return "node_mismatch";
        case Refusal::foreign_session: return "foreign_session";
        case Refusal::unknown_session: return "unknown_session";
        case Refusal::database: return "database";
    }
    return "unknown";
}

namespace {

IngestResult refuse(int status, Refusal why, std::string message) {
    IngestResult r;
    r.status = status;
    r.refusal = why;
    r.message = std::move(message);
    return r;
}

bool valid_spool_id(const std::string& id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

/// A short, printable excerpt of something a node sent, for messages.
std::string excerpt(const std::string& s) {
    std::string out;
    for (char c : s.substr(0, 64)) out += (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) ? '?' : c;
    return out;
}

/// How a session came in, as its node observed it. Its SQLite may hold the node's own verdict
/// there by the time it uploads (probe or hook: the kubelet's; attach or debug: confirmed by a
/// request), but in a cluster verdicts are the leader's: a node's word never makes a session the
/// kubelet's over an audited request (the node's kubelet judgement travels apart, in `kubelet`).
std::string observed_entry(const std::string& entered_via) {
    if (entered_via == "probe" || entered_via == "hook") return "runc";
    if (entered_via == "attach" || entered_via == "debug") return "tty-init";
    return entered_via;
}

// The session a record belongs to.
std::string session_of(const v1::UploadRecord& r) {
    if (r.has_session()) return r.session().id();
    if (r.has_command()) return r.command().session_id();
    if (r.has_chunk()) return r.chunk().session_id();
    return {};
}

}  // namespace

ChainCheck check_chains(pg::Connection& c, const upload::Batch& batch, int64_t now_ns, const storage::HeadSigner* signer) {
    ChainCheck out;
    pg::PgSessionStore store(c);
    std::set<std::string> seen;
    for (const auto& r : batch.records) {
        if (!r.has_session() || r.session().status() == "open" || r.session().chain_head().empty()) continue;
        if (!seen.insert(r.session().id()).second) continue;
        auto s = store.find(r.session().id());
        if (!s || s->sealed_ns) continue;
        auto v = storage::verify_session(store, *s, nullptr);
        if (storage::integrity_failed(v.verdict)) {
            out.failed.emplace_back(s->id, fmt::format("{}: {}", storage::integrity_name(v.verdict), v.detail));
        } else if (v.verdict == storage::Integrity::intact) {
            out.intact.push_back(s->id);
            out.sealed += pg::seal_session(c, *s, now_ns ? now_ns : wall_clock_ns(), signer);
        }
    }
    return out;
}

IngestResult ingest_batch(pg::Connection& c, const std::string& node, const upload::Batch& batch, int64_t now_ns,
                          const std::optional<std::string>& cluster, const storage::HeadSigner* signer) {
    // Everything that can be judged without the database first.
    if (batch.header.node() != node)
        return refuse(403, Refusal::node_mismatch,
                      fmt::format("the batch claims node '{}', but the certificate is node '{}'", excerpt(batch.header.node()), node));
    if (!valid_spool_id(batch.header.spool_id())) return refuse(400, Refusal::malformed, "the batch has no valid spool id");
    uint64_t max_position = 0;
    for (size_t i = 0; i < batch.records.size(); ++i) {
        const auto& r = batch.records[i];
        if (auto ok = upload::check_record(r); !ok) return refuse(400, Refusal::malformed, fmt::format("record {}: {}", i, ok.error()));
        if (r.has_session() && r.session().node() != node)
            return refuse(403, Refusal::node_mismatch,
                          fmt::format("session {} claims node '{}', but the certificate is node '{}'", r.session().id(),
                                      excerpt(r.session().node()), node));
        max_position = std::max<uint64_t>(max_position, r.position());
    }
    if (max_position > static_cast<uint64_t>(INT64_MAX)) return refuse(400, Refusal::malformed, "a position beyond 2^63");

    try {
        pg::Transaction tx(c);
        c.exec("INSERT INTO upload_streams (node, spool_id, acked_position, first_seen_ns, updated_ns) VALUES ($1, $2, 0, $3, $3) "
               "ON CONFLICT (node, spool_id) DO NOTHING",
               {pg::text(node), pg::text(batch.header.spool_id()), pg::num(now_ns)});
        // One batch of a spool at a time, whichever replica it reached.
        auto row = c.exec("SELECT acked_position FROM upload_streams WHERE node = $1 AND spool_id = $2 FOR UPDATE",
                          {pg::text(node), pg::text(batch.header.spool_id())});
        int64_t acked = row.int64(0, 0);
        IngestResult result;
        std::vector<storage::SessionRecord> recorded;  // first stored now: their ledger entries are due
        bool fresh = max_position == 0 || static_cast<int64_t>(max_position) > acked;
        const v1::Heartbeat* heartbeat = nullptr;
        for (const auto& r : batch.records) {
            if (r.has_heartbeat()) {
                heartbeat = &r.heartbeat();
                continue;
            }
            if (!fresh || (r.position() > 0 && static_cast<int64_t>(r.position()) <= acked)) {
                ++result.replayed;
                continue;
            }
            pg::PutResult put = pg::PutResult::stored;
            std::string what;
            if (r.has_session()) {
                auto s = storage::from_upload(r.session());
                s.node = node;
                if (cluster) s.cluster = cluster;  // the collector's name, not a node's claim
                s.entered_via = observed_entry(s.entered_via);
                bool first = false;
                put = pg::put_session(c, s, now_ns, &first);
                if (first) recorded.push_back(s);
                what = "session " + s.id;
            } else if (r.has_command()) {
                put = pg::put_command(c, node, storage::from_upload(r.command()), now_ns);
                what = fmt::format("command {} of session {}", r.command().seq(), r.command().session_id());
            } else if (r.has_chunk()) {
                put = pg::put_chunk(c, node, storage::from_upload(r.chunk()));
                what = fmt::format("chunk {} of session {}", r.chunk().seq(), r.chunk().session_id());
            }
            if (put == pg::PutResult::deleted) {
                const std::string& id = r.has_session()   ? r.session().id()
                                        : r.has_command() ? r.command().session_id()
                                                          : r.chunk().session_id();
                ++result.deleted;
                if (std::find(result.deleted_sessions.begin(), result.deleted_sessions.end(), id) == result.deleted_sessions.end())
                    result.deleted_sessions.push_back(id);
                continue;
            }
            if (put == pg::PutResult::foreign_node)
                return refuse(403, Refusal::foreign_session, fmt::format("{}: that session belongs to another node", what));
            if (put == pg::PutResult::no_session)
                return refuse(409, Refusal::unknown_session,
                              fmt::format("{}: the collector holds no such session (send its start first)", what));
            if (put == pg::PutResult::sealed_same) {
                ++result.sealed_resent;
                continue;
            }
            if (put == pg::PutResult::sealed_rewrite) {
                ++result.sealed_resent;
                result.sealed_rewrites.emplace_back(session_of(r), what);
                continue;
            }
            ++result.stored;
        }
        if (fresh && static_cast<int64_t>(max_position) > acked) {
            c.exec("UPDATE upload_streams SET acked_position = $3, updated_ns = $4 WHERE node = $1 AND spool_id = $2",
                   {pg::text(node), pg::text(batch.header.spool_id()), pg::num(static_cast<int64_t>(max_position)),
                    pg::num(now_ns)});
            acked = static_cast<int64_t>(max_position);
        }
        if (heartbeat && fresh) {
            nlohmann::json pods = nlohmann::json::array();
            for (const auto& p : heartbeat->pods()) {
                std::string safe;
                for (char ch : p) safe += (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7F) ? '?' : ch;
                pods.push_back(safe);
            }
            c.exec("INSERT INTO nodes (name, first_seen_ns, last_heartbeat_ns, uploaded_through_ns, backlog_records, pods_json) "
                   "VALUES ($1, $2, $2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET last_heartbeat_ns = excluded.last_heartbeat_ns, "
                   "uploaded_through_ns = greatest(nodes.uploaded_through_ns, excluded.uploaded_through_ns), "
                   "backlog_records = excluded.backlog_records, pods_json = excluded.pods_json",
                   {pg::text(node), pg::num(now_ns), pg::num(heartbeat->uploaded_through_ns()),
                    pg::num(heartbeat->backlog_records()), pg::text(pods.dump())});
        } else {
            c.exec("INSERT INTO nodes (name, first_seen_ns) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                   {pg::text(node), pg::num(now_ns)});
        }
        // Last before the commit: the ledger's head is locked from here until it, so replicas
        // storing new sessions at once wait for each other only that long.
        for (const auto& s : recorded)
            pg::append_ledger(c, s.id, storage::LedgerKind::recorded, s.start_ns, s.chain_start, signer);
        tx.commit();
        result.acked_position = acked;
        result.message = fmt::format("{{\"stored\":{},\"replayed\":{},\"deleted\":{},\"acknowledged\":{}}}", result.stored,
                                     result.replayed, result.deleted, acked);
        return result;
    } catch (const pg::PgError& e) {
        if (e.connection_lost() || !c.ok()) throw;
        // A constraint a hostile record broke; the transaction is rolled back.
        return refuse(400, Refusal::database, fmt::format("the database refused the batch (SQLSTATE {})", e.sqlstate()));
    }
}

}  // namespace execaudit::collector
