#pragma once
// Writes into the cluster store: what nodes upload (sessions, commands, chunks; idempotent, so a
// resent record changes nothing) and what the collector decides (requests, attribution), each
// inside the caller's transaction. Also the one place export positions are assigned.

#include "storage/postgres/pg_connection.h"
#include "storage/head_signing.h"
#include "storage/records.h"

#include <string>
#include <vector>

namespace execaudit::storage::pg {

enum class PutResult {
    stored,        ///< inserted or updated (or already there: nothing changed)
    foreign_node,  ///< the session belongs to another node: nothing written
    no_session,    ///< a command or chunk of a session that is not stored
    deleted,       ///< retention deleted the session (its tombstone): nothing written, never re-created
    /// The session is sealed (storage/records.h sealed_ns): nothing written. `sealed_same`: what
    /// came is what was sealed (a resend); `sealed_rewrite`: it differs, or adds to it (a finding).
    sealed_same,
    sealed_rewrite,
};

/// Inserts a session, or updates what the node owns (never attribution). Counters only grow and
/// an ended session never reopens, so an older copy arriving late changes nothing.
/// `s.node` must be the name the uploader proved. `first_stored`: set when this call inserted the
/// session; its `recorded` ledger entry is then the caller's to append (pg_ledger.h append_ledger),
/// as late in its transaction as it can (the ledger's head stays locked until the commit).
PutResult put_session(Connection& c, const SessionRecord& s, int64_t now_ns, bool* first_stored = nullptr);
/// `node`: the uploader; the session must be its own.
PutResult put_command(Connection& c, const std::string& node, const CommandRecord& cmd, int64_t now_ns);
PutResult put_chunk(Connection& c, const std::string& node, const StoredChunkRecord& chunk);
/// The owner of a session, or "" when it is not stored (or was deleted).
std::string session_owner(Connection& c, const std::string& session_id);

/// Seals a session whose stored records the collector just verified against `head` (and
/// `records`): from now on its head, commands and chunks never change. With `signer`, also
/// countersigns (storage/session_chain.h countersign_message). False: it was sealed already, or its
/// head changed since it was verified (then nothing is written). Its own statement.
bool seal_session(Connection& c, const SessionRecord& verified, int64_t now_ns, const HeadSigner* signer);

/// Who asked (collector's correlation); appends an `attributed` export record when it changed.
struct Attribution {
    std::string session_id;
    std::string attribution;
    std::optional<std::string> request_id;
    std::string audit_id;
    std::optional<RequesterRecord> requester;
    bool verified = true;
    bool prefix_matched = false;
    std::optional<std::string> entered_via;
    std::vector<std::string> candidates;
};
void put_attribution(Connection& c, const Attribution& a, int64_t now_ns);
void put_request(Connection& c, const ExecRequestRecord& r);
void put_audit_stage(Connection& c, const AuditStageRecord& s);

/// Gives every committed, unpositioned outbox row the next export position, in id order. Only
/// the exporting replica calls it (under its advisory lock), so positions appear in commit
/// order and `position > cursor` never skips a row. Returns how many were positioned.
int64_t assign_export_positions(Connection& c);

}  // namespace execaudit::storage::pg
