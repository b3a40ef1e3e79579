#include "storage/postgres/pg_store.h"

#include "common/text.h"
#include "storage/request_store.h"
#include "storage/session_store.h"

#include <fmt/format.h>

namespace execaudit::storage::pg {
namespace {

constexpr const char* kSessionColumns =
    "id, node, namespace, pod, pod_uid, container, container_id, cgroup_id, cgroup_path, leader_pid, "
    "leader_start_ns, boot_id, tty, command, start_ns, start_boot_ns, end_ns, status, exit_code, exit_signal, "
    "attribution, username, groups_json, source_ips_json, user_agent, audit_id, commands, output_bytes, input_bytes, "
    "lost_bytes, lost_events, rows, cols, entered_via, start_lost, last_activity_ns, request_id, user_verified, "
    "argv_prefix_matched, chain_start, chain_head, chain_records, head_signature, signing_key, kubelet_check, "
    "pod_labels, pod_labels_dropped, owner_kind, owner_name, workload_kind, workload_name, service_account, cluster, "
    "sealed_ns, collector_signature, collector_key, "
    // legal hold (v6); `id` is the session's: session_holds has no column of that name
    "(SELECT h.reason FROM session_holds h WHERE h.session_id = id), (SELECT h.held_by FROM session_holds h WHERE "
    "h.session_id = id), (SELECT h.held_ns FROM session_holds h WHERE h.session_id = id)";

SessionRecord read_session(const Result& r, int row) {
    SessionRecord s;
    int c = 0;
    s.id = r.text(row, c++);
    s.node = r.text(row, c++);
    s.namespace_name = r.text(row, c++);
    s.pod = r.text(row, c++);
    s.pod_uid = r.text(row, c++);
    s.container = r.text(row, c++);
    s.container_id = r.text(row, c++);
    s.cgroup_id = static_cast<uint64_t>(r.int64(row, c++));
    s.cgroup_path = r.text(row, c++);
    s.leader_pid = static_cast<uint32_t>(r.int64(row, c++));
    s.leader_start_ns = static_cast<uint64_t>(r.int64(row, c++));
    s.boot_id = r.text(row, c++);
    s.tty = r.boolean(row, c++);
    s.command = split_nul(r.bytes(row, c++));
    s.start_ns = r.int64(row, c++);
    s.start_boot_ns = static_cast<uint64_t>(r.int64(row, c++));
    s.end_ns = r.optional_int64(row, c++);
    s.status = r.text(row, c++);
    if (auto v = r.optional_int64(row, c++)) s.exit_code = static_cast<int32_t>(*v);
    if (auto v = r.optional_int64(row, c++)) s.exit_signal = static_cast<int32_t>(*v);
    s.attribution = r.text(row, c++);
    s.user = r.optional_text(row, c++);
    s.groups_json = r.text(row, c++);
    s.source_ips_json = r.text(row, c++);
    s.user_agent = r.text(row, c++);
    s.audit_id = r.text(row, c++);
    s.commands = static_cast<uint32_t>(r.int64(row, c++));
    s.output_bytes = static_cast<uint64_t>(r.int64(row, c++));
    s.input_bytes = static_cast<uint64_t>(r.int64(row, c++));
    s.lost_bytes = static_cast<uint64_t>(r.int64(row, c++));
    s.lost_events = static_cast<uint64_t>(r.int64(row, c++));
    s.rows = static_cast<uint32_t>(r.int64(row, c++));
    s.cols = static_cast<uint32_t>(r.int64(row, c++));
    s.entered_via = r.text(row, c++);
    s.start_lost = r.boolean(row, c++);
    s.last_activity_ns = r.int64(row, c++);
    s.request_id = r.text(row, c++);
    s.user_verified = r.boolean(row, c++);
    s.argv_prefix_matched = r.boolean(row, c++);
    s.chain_start = r.bytes(row, c++);
    s.chain_head = r.bytes(row, c++);
    s.chain_records = static_cast<uint64_t>(r.int64(row, c++));
    s.head_signature = r.bytes(row, c++);
    s.signing_key = r.text(row, c++);
    if (auto k = r.optional_text(row, c++)) s.kubelet = kubelet_check_from_json(*k);
    if (auto labels = r.optional_text(row, c++)) {
        PodMetadata m;
        m.labels_json = *labels;
        m.labels_dropped = static_cast<uint32_t>(r.int64(row, c++));
        m.owner_kind = r.optional_text(row, c++).value_or("");
        m.owner_name = r.optional_text(row, c++).value_or("");
        m.workload_kind = r.optional_text(row, c++).value_or("");
        m.workload_name = r.optional_text(row, c++).value_or("");
        m.service_account = r.optional_text(row, c++).value_or("");
        s.pod_meta = std::move(m);
    } else {
        c += 6;
    }
    s.cluster = r.optional_text(row, c++);
    s.sealed_ns = r.optional_int64(row, c++).value_or(0);
    s.collector_signature = r.bytes(row, c++);
    s.collector_key = r.text(row, c++);
    if (auto reason = r.optional_text(row, c++)) {
        s.held = true;
        s.hold_reason = *reason;
        s.held_by = r.text(row, c++);
        s.held_ns = r.int64(row, c++);
    }
    return s;
}

// LIKE pattern matching `text` literally anywhere (backslash is PostgreSQL's default escape).
std::string like_substring(const std::string& text) {
    std::string out = "%";
    for (char ch : text) {
        if (ch == '%' || ch == '_' || ch == '\\') out += '\\';
        out += ch;
    }
    return out + "%";
}

constexpr const char* kCommandColumns =
    "seq, time_ns, boot_ns, pid, ppid, ns_pid, uid, gid, filename, argv, retval, argv_truncated, exe_path, exe_ino, "
    "exe_dev, exe_fileless, chain_index, chain_hash";

CommandRecord read_command(const Result& r, int row, const std::string& session_id) {
    CommandRecord c;
    c.session_id = session_id;
    c.seq = static_cast<uint32_t>(r.int64(row, 0));
    c.time_ns = r.int64(row, 1);
    c.boot_ns = static_cast<uint64_t>(r.int64(row, 2));
    c.pid = static_cast<uint32_t>(r.int64(row, 3));
    c.ppid = static_cast<uint32_t>(r.int64(row, 4));
    c.ns_pid = static_cast<uint32_t>(r.int64(row, 5));
    c.uid = static_cast<uint32_t>(r.int64(row, 6));
    c.gid = static_cast<uint32_t>(r.int64(row, 7));
    c.filename = r.bytes(row, 8);
    c.argv = split_nul(r.bytes(row, 9));
    if (auto v = r.optional_int64(row, 10)) c.retval = static_cast<int32_t>(*v);
    c.argv_truncated = r.boolean(row, 11);
    c.exe_path = r.bytes(row, 12);
    c.exe_ino = static_cast<uint64_t>(r.int64(row, 13));
    c.exe_dev = static_cast<uint32_t>(r.int64(row, 14));
    c.exe_fileless = r.boolean(row, 15);
    if (auto v = r.optional_int64(row, 16)) c.chain_index = static_cast<uint64_t>(*v);
    c.chain_hash = r.bytes(row, 17);
    return c;
}

constexpr const char* kChunkColumns =
    "seq, first_offset_us, last_offset_us, frames, output_bytes, input_bytes, encoding, raw_size, data, chain_index, "
    "chain_hash";

StoredChunkRecord read_chunk(const Result& r, int row, const std::string& session_id) {
    StoredChunkRecord s;
    s.session_id = session_id;
    s.seq = static_cast<uint32_t>(r.int64(row, 0));
    s.first_offset_us = static_cast<uint64_t>(r.int64(row, 1));
    s.last_offset_us = static_cast<uint64_t>(r.int64(row, 2));
    s.frames = static_cast<uint32_t>(r.int64(row, 3));
    s.output_bytes = static_cast<uint64_t>(r.int64(row, 4));
    s.input_bytes = static_cast<uint64_t>(r.int64(row, 5));
    s.encoding = static_cast<int>(r.int64(row, 6));
    s.raw_size = static_cast<uint64_t>(std::max<int64_t>(r.int64(row, 7), 0));
    s.data = r.bytes(row, 8);
    if (auto v = r.optional_int64(row, 9)) s.chain_index = static_cast<uint64_t>(*v);
    s.chain_hash = r.bytes(row, 10);
    return s;
}

constexpr const char* kRequestColumns =
    "id, source, kind, verb, namespace, pod, container, command, tty, stdin, username, user_uid, groups_json, "
    "user_extra_json, impersonated_user, impersonated_groups_json, source_ips_json, user_agent, authz_decision, "
    "authz_reason, response_code, response_message, received_ns, started_ns, completed_ns, state, session_id, updated_ns, "
    "audit_id, verified";

ExecRequestRecord read_request(const Result& r, int row) {
    ExecRequestRecord q;
    int c = 0;
    q.id = r.text(row, c++);
    q.source = r.text(row, c++);
    q.kind = r.text(row, c++);
    q.verb = r.text(row, c++);
    q.namespace_name = r.text(row, c++);
    q.pod = r.text(row, c++);
    q.container = r.text(row, c++);
    q.command = unpack_argv(r.bytes(row, c++));
    q.tty = r.boolean(row, c++);
    q.stdin = r.boolean(row, c++);
    auto& who = q.requester;
    who.user = r.text(row, c++);
    who.user_uid = r.text(row, c++);
    who.groups_json = r.text(row, c++);
    who.user_extra_json = r.text(row, c++);
    who.impersonated_user = r.text(row, c++);
    who.impersonated_groups_json = r.text(row, c++);
    who.source_ips_json = r.text(row, c++);
    who.user_agent = r.text(row, c++);
    who.authz_decision = r.text(row, c++);
    who.authz_reason = r.text(row, c++);
    q.response_code = static_cast<int>(r.int64(row, c++));
    q.response_message = r.text(row, c++);
    q.received_ns = r.int64(row, c++);
    q.started_ns = r.optional_int64(row, c++);
    q.completed_ns = r.optional_int64(row, c++);
    q.state = r.text(row, c++);
    q.session_id = r.optional_text(row, c++);
    q.updated_ns = r.int64(row, c++);
    q.audit_id = r.text(row, c++);
    q.verified = r.boolean(row, c++);
    return q;
}

}  // namespace

std::vector<SessionRecord> PgSessionStore::list(const SessionFilter& f) {
    // Every filter is a bound parameter; a NULL parameter disables its clause.
    auto r = c_.exec(fmt::format(
                         "SELECT {} FROM sessions s WHERE "
                         "($1::bigint IS NULL OR s.end_ns IS NULL OR s.end_ns >= $1) AND "
                         "($2::bigint IS NULL OR s.start_ns < $2) AND "
                         "($3::text IS NULL OR s.username = $3) AND "
                         "($4::text IS NULL OR s.namespace = $4) AND "
                         "($5::text IS NULL OR s.pod = $5) AND "
                         "($6::text IS NULL OR s.container = $6) AND "
                         "($7::text IS NULL OR s.command_text LIKE $7 OR EXISTS (SELECT 1 FROM commands c "
                         "  WHERE c.session_id = s.id AND c.argv_text LIKE $7)) AND "
                         "(NOT $8::boolean OR s.attribution = 'unattributed') AND "
                         "($10::text IS NULL OR s.id = $10) AND "
                         "($11::text IS NULL OR s.pod_labels::jsonb @> jsonb_build_object($11::text, $12::text)) AND "
                         "($13::text IS NULL OR s.workload_name = $13) AND ($14::text IS NULL OR s.workload_kind = $14) "
                         "ORDER BY s.start_ns DESC, s.id COLLATE \"C\" LIMIT $9",
                         kSessionColumns),
                     {num(f.since_ns), num(f.until_ns), text(f.user), text(f.namespace_name), text(f.pod),
                      text(f.container), f.command ? text(like_substring(*f.command)) : null(),
                      boolean(f.unattributed_only), f.limit ? num(static_cast<int64_t>(*f.limit)) : null(),
                      text(f.session_id), f.label ? text(f.label->first) : null(),
                      f.label ? text(f.label->second) : null(), text(f.workload_name), text(f.workload_kind)});
    std::vector<SessionRecord> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_session(r, i));
    return out;
}

std::expected<SessionRecord, std::string> PgSessionStore::find(const std::string& given) {
    std::string id = given;
    for (auto& ch : id) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (id.size() < 4) return std::unexpected(fmt::format("session id '{}' is too short (give at least 4 characters)", terminal_safe(id)));
    for (char ch : id)
        if (!std::isxdigit(static_cast<unsigned char>(ch)))
            return std::unexpected(fmt::format("'{}' is not a session id (ids are hexadecimal; see `execaudit sessions`)", terminal_safe(id)));
    // hexadecimal only: no LIKE wildcard can be in it
    auto r = c_.exec(fmt::format("SELECT {} FROM sessions WHERE id LIKE $1 || '%' ORDER BY id COLLATE \"C\" LIMIT 3",
                                 kSessionColumns),
                     {text(id)});
    std::vector<SessionRecord> found;
    for (int i = 0; i < r.rows(); ++i) found.push_back(read_session(r, i));
    if (found.empty()) return std::unexpected(fmt::format("no session '{}' in {}", id, c_.label()));
    if (found.size() > 1 && found[0].id != id) {
        return std::unexpected(fmt::format("session id '{}' is ambiguous ({}, {}{}); give more characters", id,
                                           found[0].id, found[1].id, found.size() > 2 ? ", ..." : ""));
    }
    return found[0];
}

std::vector<CommandRecord> PgSessionStore::commands(const std::string& session_id) {
    auto r = c_.exec(fmt::format("SELECT {} FROM commands WHERE session_id = $1 ORDER BY seq", kCommandColumns),
                     {text(session_id)});
    std::vector<CommandRecord> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_command(r, i, session_id));
    return out;
}

void PgSessionStore::for_each_command(const std::string& session_id, const std::function<void(CommandRecord&&)>& on_command) {
    constexpr int kPage = 1024;
    int64_t next = 0;
    for (;;) {
        auto r = c_.exec(fmt::format("SELECT {} FROM commands WHERE session_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                                     kCommandColumns),
                         {text(session_id), num(next), num(int64_t{kPage})});
        for (int i = 0; i < r.rows(); ++i) {
            CommandRecord c = read_command(r, i, session_id);
            next = int64_t{c.seq} + 1;
            on_command(std::move(c));
        }
        if (r.rows() < kPage) return;
    }
}

std::optional<CommandRecord> PgSessionStore::command(const std::string& session_id, uint32_t seq) {
    auto r = c_.exec(fmt::format("SELECT {} FROM commands WHERE session_id = $1 AND seq = $2", kCommandColumns),
                     {text(session_id), num(int64_t{seq})});
    if (r.rows() == 0) return std::nullopt;
    return read_command(r, 0, session_id);
}

std::expected<void, std::string> PgSessionStore::for_each_chunk(const std::string& session_id,
                                                                const std::function<void(const ChunkRecord&)>& on_chunk) {
    // In pages: a long session's chunks never sit in memory all at once.
    constexpr int kPage = 256;
    int64_t next = 0;
    for (;;) {
        auto r = c_.exec(fmt::format("SELECT {} FROM io_chunks WHERE session_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                                     kChunkColumns),
                         {text(session_id), num(next), num(int64_t{kPage})});
        for (int i = 0; i < r.rows(); ++i) {
            auto chunk = decode_stored_chunk(read_chunk(r, i, session_id));
            if (!chunk) return std::unexpected(chunk.error());
            next = int64_t{chunk->seq} + 1;
            on_chunk(*chunk);
        }
        if (r.rows() < kPage) return {};
    }
}

std::expected<ChunkRecord, std::string> PgSessionStore::chunk(const std::string& session_id, uint32_t seq) {
    auto r = c_.exec(fmt::format("SELECT {} FROM io_chunks WHERE session_id = $1 AND seq = $2", kChunkColumns),
                     {text(session_id), num(int64_t{seq})});
    if (r.rows() == 0) return std::unexpected(fmt::format("chunk {} of session {}: not in the database", seq, session_id));
    return decode_stored_chunk(read_chunk(r, 0, session_id));
}

std::vector<ExecRequestRecord> PgRequestStore::list(const RequestFilter& f) {
    std::string states;
    for (const auto& s : f.states) {
        if (!states.empty()) states += ',';
        states += s;
    }
    auto r = c_.exec(fmt::format("SELECT {} FROM exec_requests WHERE "
                                 "($1 = '' OR state = ANY (string_to_array($1, ','))) AND "
                                 "($2::bigint IS NULL OR received_ns >= $2) AND ($3::bigint IS NULL OR received_ns < $3) AND "
                                 "($4::text IS NULL OR namespace = $4) AND ($5::text IS NULL OR pod = $5) AND "
                                 "($6::text IS NULL OR username = $6) "
                                 "ORDER BY received_ns DESC, id COLLATE \"C\" LIMIT $7",
                                 kRequestColumns),
                     {text(states), num(f.since_ns), num(f.until_ns), text(f.namespace_name), text(f.pod), text(f.user),
                      f.limit ? num(static_cast<int64_t>(*f.limit)) : null()});
    std::vector<ExecRequestRecord> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_request(r, i));
    return out;
}

std::vector<ExecRequestRecord> PgRequestStore::requests_of_session(const std::string& session_id) {
    auto r = c_.exec(fmt::format("SELECT {} FROM exec_requests WHERE session_id = $1 OR id IN "
                                 "(SELECT request_id FROM session_candidates WHERE session_id = $1) "
                                 "ORDER BY received_ns, id COLLATE \"C\"",
                                 kRequestColumns),
                     {text(session_id)});
    std::vector<ExecRequestRecord> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_request(r, i));
    return out;
}

std::vector<OutboxEntry> PgOutbox::after(int64_t position, size_t limit, const std::optional<std::string>& session_id) {
    auto r = c_.exec("SELECT position, session_id, kind, seq, noted_ns FROM export_outbox "
                     "WHERE position > $1 AND ($3::text IS NULL OR session_id = $3) ORDER BY position LIMIT $2",
                     {num(position), num(static_cast<int64_t>(limit)), text(session_id)});
    std::vector<OutboxEntry> out;
    for (int i = 0; i < r.rows(); ++i) {
        OutboxEntry e;
        e.position = r.int64(i, 0);
        e.session_id = r.text(i, 1);
        e.kind = static_cast<OutboxKind>(r.int64(i, 2));
        e.seq = static_cast<uint32_t>(r.int64(i, 3));
        e.noted_ns = r.int64(i, 4);
        out.push_back(std::move(e));
    }
    return out;
}

int64_t PgOutbox::count_after(int64_t position) {
    return c_.exec("SELECT count(*) FROM export_outbox WHERE position > $1", {num(position)}).int64(0, 0);
}

int64_t PgOutbox::last_position() {
    return c_.exec("SELECT coalesce(max(position), 0) FROM export_outbox").int64(0, 0);
}

}  // namespace execaudit::storage::pg
