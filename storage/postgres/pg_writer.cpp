#include "storage/postgres/pg_writer.h"

#include "common/text.h"
#include "storage/postgres/pg_ledger.h"
#include "storage/request_store.h"
#include "storage/session_chain.h"

#include <fmt/format.h>

namespace execaudit::storage::pg {
namespace {

std::string join_nul(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) {
        out += p;
        out += '\0';
    }
    return out;
}

std::string lossy_text(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty()) out += ' ';
        out += utf8_lossy(p);
    }
    return out;
}

void note_outbox(Connection& c, const std::string& session_id, int kind, int64_t seq, int64_t now_ns) {
    c.exec("INSERT INTO export_outbox (session_id, kind, seq, noted_ns) VALUES ($1, $2, $3, $4) "
           "ON CONFLICT (session_id, kind, seq) DO NOTHING",
           {text(session_id), num(int64_t{kind}), num(seq), num(now_ns)});
}

constexpr const char* kUpsertSession = R"sql(
INSERT INTO sessions (id, node, namespace, pod, pod_uid, container, container_id, cgroup_id, cgroup_path,
    leader_pid, leader_start_ns, boot_id, tty, command, command_text, start_ns, start_boot_ns, end_ns, status,
    exit_code, exit_signal, commands, output_bytes, input_bytes, lost_bytes, lost_events, rows, cols,
    entered_via, start_lost, last_activity_ns, committed_ns, kubelet_check, pod_labels, pod_labels_dropped, owner_kind,
    owner_name, workload_kind, workload_name, service_account, cluster)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
    $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41)
ON CONFLICT (id) DO UPDATE SET
    namespace = excluded.namespace, pod = excluded.pod, pod_uid = excluded.pod_uid,
    container = excluded.container, container_id = excluded.container_id, cgroup_path = excluded.cgroup_path,
    tty = excluded.tty, command = excluded.command, command_text = excluded.command_text,
    end_ns = CASE WHEN sessions.status = 'open' THEN excluded.end_ns ELSE sessions.end_ns END,
    status = CASE WHEN sessions.status = 'open' THEN excluded.status ELSE sessions.status END,
    exit_code = CASE WHEN sessions.status = 'open' THEN excluded.exit_code ELSE sessions.exit_code END,
    exit_signal = CASE WHEN sessions.status = 'open' THEN excluded.exit_signal ELSE sessions.exit_signal END,
    commands = greatest(sessions.commands, excluded.commands),
    output_bytes = greatest(sessions.output_bytes, excluded.output_bytes),
    input_bytes = greatest(sessions.input_bytes, excluded.input_bytes),
    lost_bytes = greatest(sessions.lost_bytes, excluded.lost_bytes),
    lost_events = greatest(sessions.lost_events, excluded.lost_events),
    rows = excluded.rows, cols = excluded.cols, start_lost = excluded.start_lost,
    last_activity_ns = greatest(sessions.last_activity_ns, excluded.last_activity_ns),
    committed_ns = excluded.committed_ns,
    kubelet_check = coalesce(sessions.kubelet_check, excluded.kubelet_check),  -- judged once, at the end
    -- what the pod was when the session started: once known, a later upload without it keeps it
    pod_labels_dropped = CASE WHEN excluded.pod_labels IS NULL THEN sessions.pod_labels_dropped ELSE excluded.pod_labels_dropped END,
    owner_kind = CASE WHEN excluded.pod_labels IS NULL THEN sessions.owner_kind ELSE excluded.owner_kind END,
    owner_name = CASE WHEN excluded.pod_labels IS NULL THEN sessions.owner_name ELSE excluded.owner_name END,
    workload_kind = CASE WHEN excluded.pod_labels IS NULL THEN sessions.workload_kind ELSE excluded.workload_kind END,
    workload_name = CASE WHEN excluded.pod_labels IS NULL THEN sessions.workload_name ELSE excluded.workload_name END,
    service_account = CASE WHEN excluded.pod_labels IS NULL THEN sessions.service_account ELSE excluded.service_account END,
    pod_labels = coalesce(excluded.pod_labels, sessions.pod_labels),
    cluster = coalesce(excluded.cluster, sessions.cluster)
WHERE sessions.node = excluded.node
RETURNING status, xmax = 0 AS inserted
)sql";

Param blob_or_null(const std::string& v) { return v.empty() ? null() : bytes(v); }

// A stored session as far as a write needs it: whose it is and whether the collector sealed it.
struct Stored {
    std::string node;  ///< "" when it is not stored
    bool sealed = false;
    std::string chain_head;
    int64_t chain_records = 0;
};
Stored stored_session(Connection& c, const std::string& id) {
    auto r = c.exec("SELECT node, sealed_ns IS NOT NULL, chain_head, chain_records FROM sessions WHERE id = $1", {text(id)});
    if (r.rows() == 0) return {};
    return {r.text(0, 0), r.boolean(0, 1), r.bytes(0, 2), r.int64(0, 3)};
}

// A command or chunk sent again for a sealed session: the same record (its chain hash) is a
// resend; another hash, or a record the sealed head does not hold, is a rewrite.
PutResult sealed_record(Connection& c, const char* table, const std::string& session_id, int64_t seq,
                        const std::optional<std::string>& chain_hash) {
    auto r = c.exec(fmt::format("SELECT chain_hash FROM {} WHERE session_id = $1 AND seq = $2", table),
                    {text(session_id), num(seq)});
    if (r.rows() == 0) return PutResult::sealed_rewrite;
    if (chain_hash && !chain_hash->empty() && r.bytes(0, 0) != *chain_hash) return PutResult::sealed_rewrite;
    return PutResult::sealed_same;
}

// The node's chain (docs/integrity.md): its start never changes; the newest seal wins.
void put_chain_fields(Connection& c, const SessionRecord& s) {
    if (s.chain_start.empty()) return;
    c.exec("UPDATE sessions SET chain_start = coalesce(chain_start, $2), "
           "chain_head = CASE WHEN $3::bytea IS NOT NULL AND $4::bigint >= chain_records THEN $3 ELSE chain_head END, "
           "head_signature = CASE WHEN $3::bytea IS NOT NULL AND $4::bigint >= chain_records THEN $5 ELSE head_signature END, "
           "signing_key = CASE WHEN $3::bytea IS NOT NULL AND $4::bigint >= chain_records THEN $6 ELSE signing_key END, "
           "chain_records = CASE WHEN $3::bytea IS NOT NULL AND $4::bigint >= chain_records THEN $4 ELSE chain_records END "
           "WHERE id = $1",
           {text(s.id), bytes(s.chain_start), blob_or_null(s.chain_head), num(static_cast<int64_t>(s.chain_records)),
            blob_or_null(s.head_signature), text(s.signing_key)});
}

}  // namespace

PutResult put_session(Connection& c, const SessionRecord& s, int64_t now_ns, bool* first_stored) {
    // deleted by retention: a late resend (a node replaying its spool) never brings it back
    if (tombstoned(c, s.id)) return PutResult::deleted;
    // a pod's names as text (PostgreSQL's text is valid UTF-8 only); NULL where none or not known
    auto pod_text = [&](std::string PodMetadata::*field) {
        if (!s.pod_meta || (s.pod_meta.value().*field).empty()) return null();
        return text(utf8_lossy(s.pod_meta.value().*field));
    };
    if (auto before = stored_session(c, s.id); before.sealed) {
        if (before.node != s.node) return PutResult::foreign_node;
        bool same = s.chain_head.empty() ||
                    (s.chain_head == before.chain_head && static_cast<int64_t>(s.chain_records) == before.chain_records);
        return same ? PutResult::sealed_same : PutResult::sealed_rewrite;
    }
    auto r = c.exec(kUpsertSession,
                    {text(s.id), text(s.node), text(s.namespace_name), text(s.pod), text(s.pod_uid), text(s.container),
                     text(s.container_id), num(static_cast<int64_t>(s.cgroup_id)), text(s.cgroup_path),
                     num(int64_t{s.leader_pid}), num(static_cast<int64_t>(s.leader_start_ns)), text(s.boot_id),
                     boolean(s.tty), bytes(join_nul(s.command)), text(lossy_text(s.command)), num(s.start_ns),
                     num(static_cast<int64_t>(s.start_boot_ns)), num(s.end_ns), text(s.status), num(s.exit_code),
                     num(s.exit_signal), num(int64_t{s.commands}), num(static_cast<int64_t>(s.output_bytes)),
                     num(static_cast<int64_t>(s.input_bytes)), num(static_cast<int64_t>(s.lost_bytes)),
                     num(static_cast<int64_t>(s.lost_events)), num(int64_t{s.rows}), num(int64_t{s.cols}),
                     text(s.entered_via), boolean(s.start_lost), num(s.last_activity_ns), num(now_ns),
                     s.kubelet ? text(kubelet_check_json(*s.kubelet)) : null(),
                     s.pod_meta ? text(s.pod_meta->labels_json) : null(),
                     num(int64_t{s.pod_meta ? s.pod_meta->labels_dropped : 0}), pod_text(&PodMetadata::owner_kind),
                     pod_text(&PodMetadata::owner_name), pod_text(&PodMetadata::workload_kind),
                     pod_text(&PodMetadata::workload_name), pod_text(&PodMetadata::service_account),
                     s.cluster ? text(utf8_lossy(*s.cluster)) : null()});
    if (r.rows() == 0) return tombstoned(c, s.id) ? PutResult::deleted : PutResult::foreign_node;
    put_chain_fields(c, s);
    if (first_stored) *first_stored = r.boolean(0, 1);
    note_outbox(c, s.id, 1, 0, now_ns);
    if (r.text(0, 0) != "open") note_outbox(c, s.id, 3, 0, now_ns);
    return PutResult::stored;
}

std::string session_owner(Connection& c, const std::string& session_id) {
    auto r = c.exec("SELECT node FROM sessions WHERE id = $1", {text(session_id)});
    return r.rows() ? r.text(0, 0) : std::string();
}

namespace {

/// sessions.stored_bytes (schema v8): what the session holds, the measure of collect --max-db-size.
void add_stored_bytes(Connection& c, const std::string& session_id, int64_t n) {
    if (n > 0) c.exec("UPDATE sessions SET stored_bytes = stored_bytes + $2 WHERE id = $1", {text(session_id), num(n)});
}

/// Whom a command's or chunk's session belongs to: deleted, not stored, or its node (and whether
/// the collector sealed it).
struct Owner {
    PutResult state = PutResult::no_session;
    std::string node;
    bool sealed = false;
};
Owner owner_of(Connection& c, const std::string& session_id) {
    auto r = c.exec("SELECT s.node, s.sealed_ns IS NOT NULL, EXISTS (SELECT 1 FROM session_tombstones WHERE session_id = $1) "
                    "FROM (SELECT 1) one LEFT JOIN sessions s ON s.id = $1",
                    {text(session_id)});
    if (r.boolean(0, 2)) return {PutResult::deleted, "", false};
    if (r.is_null(0, 0)) return {PutResult::no_session, "", false};
    return {PutResult::stored, r.text(0, 0), r.boolean(0, 1)};
}

}  // namespace

PutResult put_command(Connection& c, const std::string& node, const CommandRecord& cmd, int64_t now_ns) {
    auto owner = owner_of(c, cmd.session_id);
    if (owner.state != PutResult::stored) return owner.state;
    if (owner.node != node) return PutResult::foreign_node;
    if (owner.sealed)
        return sealed_record(c, "commands", cmd.session_id, cmd.seq,
                             cmd.chain_hash.empty() ? std::nullopt : std::optional<std::string>(cmd.chain_hash));
    auto r = c.exec(R"sql(
INSERT INTO commands (session_id, seq, time_ns, boot_ns, pid, ppid, ns_pid, uid, gid, filename, argv, argv_text, retval,
    argv_truncated, exe_path, exe_ino, exe_dev, exe_fileless, chain_index, chain_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
ON CONFLICT (session_id, seq) DO UPDATE SET time_ns = excluded.time_ns, boot_ns = excluded.boot_ns, pid = excluded.pid,
    ppid = excluded.ppid, ns_pid = excluded.ns_pid, uid = excluded.uid, gid = excluded.gid, filename = excluded.filename,
    argv = excluded.argv, argv_text = excluded.argv_text, retval = coalesce(excluded.retval, commands.retval),
    argv_truncated = excluded.argv_truncated, exe_path = excluded.exe_path, exe_ino = excluded.exe_ino,
    exe_dev = excluded.exe_dev, exe_fileless = excluded.exe_fileless,
    chain_index = coalesce(excluded.chain_index, commands.chain_index),
    chain_hash = coalesce(excluded.chain_hash, commands.chain_hash)
RETURNING xmax = 0 AS inserted, 200 + 2 * octet_length(argv) + octet_length(filename) + octet_length(exe_path)
)sql",
           {text(cmd.session_id), num(int64_t{cmd.seq}), num(cmd.time_ns), num(static_cast<int64_t>(cmd.boot_ns)),
            num(int64_t{cmd.pid}), num(int64_t{cmd.ppid}), num(int64_t{cmd.ns_pid}), num(int64_t{cmd.uid}),
            num(int64_t{cmd.gid}), bytes(cmd.filename), bytes(join_nul(cmd.argv)), text(lossy_text(cmd.argv)),
            num(cmd.retval), boolean(cmd.argv_truncated), bytes(cmd.exe_path), num(static_cast<int64_t>(cmd.exe_ino)),
            num(int64_t{cmd.exe_dev}), boolean(cmd.exe_fileless), num(cmd.chain_index), blob_or_null(cmd.chain_hash)});
    // what the session holds (collect --max-db-size): a command once, when first stored (v8's formula)
    if (r.rows() && r.boolean(0, 0)) add_stored_bytes(c, cmd.session_id, r.int64(0, 1));
    note_outbox(c, cmd.session_id, 2, cmd.seq, now_ns);
    return PutResult::stored;
}

PutResult put_chunk(Connection& c, const std::string& node, const StoredChunkRecord& k) {
    auto owner = owner_of(c, k.session_id);
    if (owner.state != PutResult::stored) return owner.state;
    if (owner.node != node) return PutResult::foreign_node;
    if (owner.sealed)
        return sealed_record(c, "io_chunks", k.session_id, k.seq,
                             k.chain_hash.empty() ? std::nullopt : std::optional<std::string>(k.chain_hash));
    // chunks never change once written: a resent one is ignored
    auto r = c.exec(R"sql(
INSERT INTO io_chunks (session_id, seq, first_offset_us, last_offset_us, frames, output_bytes, input_bytes, encoding,
    raw_size, data, time_ns, chain_index, chain_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, (SELECT start_ns FROM sessions WHERE id = $1) + $3::bigint * 1000,
    $11, $12)
ON CONFLICT (session_id, seq) DO NOTHING
RETURNING octet_length(data)
)sql",
           {text(k.session_id), num(int64_t{k.seq}), num(static_cast<int64_t>(k.first_offset_us)),
            num(static_cast<int64_t>(k.last_offset_us)), num(int64_t{k.frames}), num(static_cast<int64_t>(k.output_bytes)),
            num(static_cast<int64_t>(k.input_bytes)), num(int64_t{k.encoding}), num(static_cast<int64_t>(k.raw_size)),
            bytes(k.data), num(k.chain_index), blob_or_null(k.chain_hash)});
    // no row: a resend (or a deleted session's, which the trigger drops); counted once
    if (r.rows()) add_stored_bytes(c, k.session_id, r.int64(0, 0));
    return PutResult::stored;
}

bool seal_session(Connection& c, const SessionRecord& verified, int64_t now_ns, const HeadSigner* signer) {
    std::string signature, key;
    if (signer) {
        signature = signer->sign(countersign_message(verified.node, verified.id, verified.chain_head, verified.chain_records, now_ns));
        key = signer->key_id();
    }
    auto r = c.exec("UPDATE sessions SET sealed_ns = $2, collector_signature = $3, collector_key = $4 "
                    "WHERE id = $1 AND sealed_ns IS NULL AND node = $5 AND chain_head = $6 AND chain_records = $7",
                    {text(verified.id), num(now_ns), blob_or_null(signature), text(key), text(verified.node),
                     bytes(verified.chain_head), num(static_cast<int64_t>(verified.chain_records))});
    return r.affected() > 0;
}

void put_attribution(Connection& c, const Attribution& a, int64_t now_ns) {
    auto before = c.exec("SELECT attribution FROM sessions WHERE id = $1 FOR UPDATE", {text(a.session_id)});
    if (before.rows() == 0) return;
    std::string old = before.text(0, 0);
    const RequesterRecord none;
    const RequesterRecord& who = a.requester ? *a.requester : none;
    c.exec("UPDATE sessions SET attribution = $2, username = $3, groups_json = $4, source_ips_json = $5, user_agent = $6, "
           "audit_id = $7, request_id = $8, user_verified = $9, argv_prefix_matched = $10, "
           "entered_via = coalesce($11, entered_via) WHERE id = $1",
           {text(a.session_id), text(a.attribution), a.requester ? text(who.user) : null(), text(who.groups_json),
            text(who.source_ips_json), text(who.user_agent), text(a.audit_id), text(a.request_id.value_or("")),
            boolean(a.verified), boolean(a.prefix_matched), text(a.entered_via)});
    c.exec("DELETE FROM session_candidates WHERE session_id = $1", {text(a.session_id)});
    for (const auto& id : a.candidates)
        c.exec("INSERT INTO session_candidates (session_id, request_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
               {text(a.session_id), text(id)});
    if (a.attribution != "pending" && a.attribution != old) {
        auto n = c.exec("SELECT count(*) FROM export_outbox WHERE session_id = $1 AND kind = 4", {text(a.session_id)});
        note_outbox(c, a.session_id, 4, n.int64(0, 0), now_ns);
    }
}

void put_request(Connection& c, const ExecRequestRecord& r) {
    const auto& w = r.requester;
    c.exec(R"sql(
INSERT INTO exec_requests (id, source, kind, verb, namespace, pod, container, command, command_text, tty, stdin, username,
    user_uid, groups_json, user_extra_json, impersonated_user, impersonated_groups_json, source_ips_json, user_agent,
    authz_decision, authz_reason, response_code, response_message, received_ns, started_ns, completed_ns, state,
    session_id, updated_ns, audit_id, verified)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24,
    $25, $26, $27, $28, $29, $30, $31)
ON CONFLICT (id) DO UPDATE SET verb = excluded.verb, namespace = excluded.namespace, pod = excluded.pod,
    container = excluded.container, command = excluded.command, command_text = excluded.command_text,
    tty = excluded.tty, stdin = excluded.stdin, username = excluded.username, user_uid = excluded.user_uid,
    groups_json = excluded.groups_json, user_extra_json = excluded.user_extra_json,
    impersonated_user = excluded.impersonated_user, impersonated_groups_json = excluded.impersonated_groups_json,
    source_ips_json = excluded.source_ips_json, user_agent = excluded.user_agent,
    authz_decision = excluded.authz_decision, authz_reason = excluded.authz_reason,
    response_code = excluded.response_code, response_message = excluded.response_message,
    received_ns = excluded.received_ns, started_ns = excluded.started_ns, completed_ns = excluded.completed_ns,
    state = excluded.state, session_id = excluded.session_id, updated_ns = excluded.updated_ns
)sql",
           {text(r.id), text(r.source), text(r.kind), text(r.verb), text(r.namespace_name), text(r.pod), text(r.container),
            bytes(pack_argv(r.command)), text(lossy_text(r.command)), boolean(r.tty), boolean(r.stdin), text(w.user),
            text(w.user_uid), text(w.groups_json), text(w.user_extra_json), text(w.impersonated_user),
            text(w.impersonated_groups_json), text(w.source_ips_json), text(w.user_agent), text(w.authz_decision),
            text(w.authz_reason), num(int64_t{r.response_code}), text(r.response_message), num(r.received_ns),
            num(r.started_ns), num(r.completed_ns), text(r.state), text(r.session_id), num(r.updated_ns),
            text(r.audit_id.empty() ? r.id : r.audit_id), boolean(r.verified)});
}

void put_audit_stage(Connection& c, const AuditStageRecord& s) {
    c.exec("INSERT INTO audit_events (request_id, audit_id, stage, source, received_ns, stage_ns, ingested_ns, raw_json) "
           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request_id, stage) DO NOTHING",
           {text(s.request_id), text(s.audit_id), text(s.stage), text(s.source), num(s.received_ns), num(s.stage_ns),
            num(s.ingested_ns), text(s.raw_json)});
}

int64_t assign_export_positions(Connection& c) {
    auto r = c.exec(R"sql(
WITH base AS (SELECT coalesce(max(position), 0) AS p FROM export_outbox),
     todo AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM export_outbox WHERE position IS NULL)
UPDATE export_outbox o SET position = base.p + todo.n FROM base, todo WHERE o.id = todo.id
)sql");
    return r.affected();
}

}  // namespace execaudit::storage::pg
