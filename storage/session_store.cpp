#include "storage/session_store.h"

#include "common/text.h"
#include "storage/compression.h"

#include <fmt/format.h>

namespace execaudit::storage {
namespace {

constexpr const char* kSessionColumns =
    "id, node, namespace, pod, pod_uid, container, container_id, cgroup_id, cgroup_path, leader_pid, "
    "leader_start_ns, boot_id, tty, command, start_ns, start_boot_ns, end_ns, status, exit_code, exit_signal, "
    "attribution, user, groups_json, source_ips_json, user_agent, audit_id, commands, output_bytes, input_bytes, "
    "lost_bytes, lost_events, rows, cols, entered_via, start_lost, last_activity_ns, request_id, user_verified, "
    "argv_prefix_matched, chain_start, chain_head, chain_records, head_signature, signing_key, kubelet_check, "
    "pod_labels, pod_labels_dropped, owner_kind, owner_name, workload_kind, workload_name, service_account, cluster, "
    "runs, last_run_ns, run_min_ns, run_max_ns, "
    "(SELECT h.reason FROM session_holds h WHERE h.session_id = id), (SELECT h.held_by FROM session_holds h WHERE "
    "h.session_id = id), (SELECT h.held_ns FROM session_holds h WHERE h.session_id = id)";

SessionRecord read_session(const Statement& st) {
    SessionRecord r;
    int c = 0;
    r.id = st.column_text(c++);
    r.node = st.column_text(c++);
    r.namespace_name = st.column_text(c++);
    r.pod = st.column_text(c++);
    r.pod_uid = st.column_text(c++);
    r.container = st.column_text(c++);
    r.container_id = st.column_text(c++);
    r.cgroup_id = static_cast<uint64_t>(st.column_int(c++));
    r.cgroup_path = st.column_text(c++);
    r.leader_pid = static_cast<uint32_t>(st.column_int(c++));
    r.leader_start_ns = static_cast<uint64_t>(st.column_int(c++));
    r.boot_id = st.column_text(c++);
    r.tty = st.column_int(c++) != 0;
    r.command = split_nul(st.column_blob(c++));
    r.start_ns = st.column_int(c++);
    r.start_boot_ns = static_cast<uint64_t>(st.column_int(c++));
    r.end_ns = st.column_optional_int(c++);
    r.status = st.column_text(c++);
    if (auto v = st.column_optional_int(c++)) r.exit_code = static_cast<int32_t>(*v);
    if (auto v = st.column_optional_int(c++)) r.exit_signal = static_cast<int32_t>(*v);
    r.attribution = st.column_text(c++);
    r.user = st.column_optional_text(c++);
    r.groups_json = st.column_text(c++);
    r.source_ips_json = st.column_text(c++);
    r.user_agent = st.column_text(c++);
    r.audit_id = st.column_text(c++);
    r.commands = static_cast<uint32_t>(st.column_int(c++));
    r.output_bytes = static_cast<uint64_t>(st.column_int(c++));
    r.input_bytes = static_cast<uint64_t>(st.column_int(c++));
    r.lost_bytes = static_cast<uint64_t>(st.column_int(c++));
    r.lost_events = static_cast<uint64_t>(st.column_int(c++));
    r.rows = static_cast<uint32_t>(st.column_int(c++));
    r.cols = static_cast<uint32_t>(st.column_int(c++));
    r.entered_via = st.column_text(c++);
    r.start_lost = st.column_int(c++) != 0;
    r.last_activity_ns = st.column_int(c++);
    r.request_id = st.column_text(c++);
    r.user_verified = st.column_int(c++) != 0;
    r.argv_prefix_matched = st.column_int(c++) != 0;
    r.chain_start = st.column_blob(c++);
    r.chain_head = st.column_blob(c++);
    r.chain_records = static_cast<uint64_t>(st.column_int(c++));
    r.head_signature = st.column_blob(c++);
    r.signing_key = st.column_text(c++);
    if (auto k = st.column_optional_text(c++)) r.kubelet = kubelet_check_from_json(*k);
    if (auto labels = st.column_optional_text(c++)) {
        PodMetadata m;
        m.labels_json = *labels;
        m.labels_dropped = static_cast<uint32_t>(st.column_int(c++));
        m.owner_kind = st.column_text(c++);
        m.owner_name = st.column_text(c++);
        m.workload_kind = st.column_text(c++);
        m.workload_name = st.column_text(c++);
        m.service_account = st.column_text(c++);
        r.pod_meta = std::move(m);
    } else {
        c += 6;
    }
    r.cluster = st.column_optional_text(c++);
    r.runs = static_cast<uint64_t>(st.column_int(c++));
    r.last_run_ns = st.column_optional_int(c++);
    r.run_min_ns = st.column_optional_int(c++);
    r.run_max_ns = st.column_optional_int(c++);
    if (auto reason = st.column_optional_text(c++)) {
        r.held = true;
        r.hold_reason = *reason;
        r.held_by = st.column_text(c++);
        r.held_ns = st.column_int(c++);
    }
    return r;
}

// LIKE pattern matching `text` literally anywhere.
std::string like_substring(const std::string& text) {
    std::string out = "%";
    for (char ch : text) {
        if (ch == '%' || ch == '_' || ch == '\\') out += '\\';
        out += ch;
    }
    return out + "%";
}

}  // namespace

std::vector<SessionRecord> SessionStore::list(const SessionFilter& f) {
    // Every filter is a bound parameter; a NULL parameter disables its clause.
    std::string sql = fmt::format(
        "SELECT {} FROM sessions s WHERE "
        "(?1 IS NULL OR s.end_ns IS NULL OR s.end_ns >= ?1) AND "
        "(?2 IS NULL OR s.start_ns < ?2) AND "
        "(?3 IS NULL OR s.user = ?3) AND "
        "(?4 IS NULL OR s.namespace = ?4) AND "
        "(?5 IS NULL OR s.pod = ?5) AND "
        "(?6 IS NULL OR s.container = ?6) AND "
        "(?7 IS NULL OR s.command_text LIKE ?7 ESCAPE '\\' OR EXISTS (SELECT 1 FROM commands c "
        "  WHERE c.session_id = s.id AND c.argv_text LIKE ?7 ESCAPE '\\')) AND "
        "(?8 = 0 OR s.attribution = 'unattributed') AND "
        "(?10 IS NULL OR s.id = ?10) AND "
        "(?11 IS NULL OR EXISTS (SELECT 1 FROM json_each(s.pod_labels) j WHERE j.key = ?11 AND j.value = ?12)) AND "
        "(?13 IS NULL OR s.workload_name = ?13) AND (?14 IS NULL OR s.workload_kind = ?14) AND "
        "NOT EXISTS (SELECT 1 FROM session_tombstones t WHERE t.session_id = s.id) "  // being deleted by retention
        "ORDER BY s.start_ns DESC, s.id LIMIT ?9",
        kSessionColumns);
    auto st = db_.prepare(sql);
    st.bind(1, f.since_ns).bind(2, f.until_ns).bind(3, f.user).bind(4, f.namespace_name).bind(5, f.pod);
    st.bind(6, f.container);
    if (f.command) st.bind(7, like_substring(*f.command));
    else st.bind_null(7);
    st.bind(8, int64_t{f.unattributed_only}).bind(9, f.limit ? static_cast<int64_t>(*f.limit) : int64_t{-1});
    st.bind(10, f.session_id);
    if (f.label) st.bind(11, f.label->first).bind(12, f.label->second);
    else st.bind_null(11).bind_null(12);
    st.bind(13, f.workload_name).bind(14, f.workload_kind);
    std::vector<SessionRecord> out;
    while (st.step()) out.push_back(read_session(st));
    return out;
}

std::expected<SessionRecord, std::string> SessionStore::find(const std::string& given) {
    std::string id = given;
    for (auto& ch : id) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (id.size() < 4) return std::unexpected(fmt::format("session id '{}' is too short (give at least 4 characters)", terminal_safe(id)));
    for (char ch : id)
        if (!std::isxdigit(static_cast<unsigned char>(ch)))
            return std::unexpected(fmt::format("'{}' is not a session id (ids are hexadecimal; see `execaudit sessions`)", terminal_safe(id)));
    auto st = db_.prepare(fmt::format("SELECT {} FROM sessions WHERE id >= ?1 AND id < ?1 || 'g' AND NOT EXISTS (SELECT 1 FROM session_tombstones t "
                                      "WHERE t.session_id = sessions.id) ORDER BY id LIMIT 3",
                                      kSessionColumns));
    st.bind(1, id);
    std::vector<SessionRecord> found;
    while (st.step()) found.push_back(read_session(st));
    if (found.empty()) return std::unexpected(fmt::format("no session '{}' in {}", id, db_.path()));
    if (found.size() > 1 && found[0].id != id) {
        return std::unexpected(fmt::format("session id '{}' is ambiguous ({}, {}{}); give more characters", id,
                                           found[0].id, found[1].id, found.size() > 2 ? ", ..." : ""));
    }
    return found[0];
}

namespace {

constexpr const char* kCommandColumns =
    "seq, time_ns, boot_ns, pid, ppid, ns_pid, uid, gid, filename, argv, retval, argv_truncated, exe_path, exe_ino, "
    "exe_dev, exe_fileless, chain_index, chain_hash";

CommandRecord read_command(const Statement& st, const std::string& session_id) {
    CommandRecord r;
    r.session_id = session_id;
    r.seq = static_cast<uint32_t>(st.column_int(0));
    r.time_ns = st.column_int(1);
    r.boot_ns = static_cast<uint64_t>(st.column_int(2));
    r.pid = static_cast<uint32_t>(st.column_int(3));
    r.ppid = static_cast<uint32_t>(st.column_int(4));
    r.ns_pid = static_cast<uint32_t>(st.column_int(5));
    r.uid = static_cast<uint32_t>(st.column_int(6));
    r.gid = static_cast<uint32_t>(st.column_int(7));
    r.filename = st.column_blob(8);
    r.argv = split_nul(st.column_blob(9));
    if (auto v = st.column_optional_int(10)) r.retval = static_cast<int32_t>(*v);
    r.argv_truncated = st.column_int(11) != 0;
    r.exe_path = st.column_blob(12);
    r.exe_ino = static_cast<uint64_t>(st.column_int(13));
    r.exe_dev = static_cast<uint32_t>(st.column_int(14));
    r.exe_fileless = st.column_int(15) != 0;
    if (auto v = st.column_optional_int(16)) r.chain_index = static_cast<uint64_t>(*v);
    r.chain_hash = st.column_blob(17);
    return r;
}

}  // namespace

std::vector<CommandRecord> SessionStore::commands(const std::string& session_id) {
    auto st = db_.prepare(fmt::format("SELECT {} FROM commands WHERE session_id = ?1 ORDER BY seq", kCommandColumns));
    st.bind(1, session_id);
    std::vector<CommandRecord> out;
    while (st.step()) out.push_back(read_command(st, session_id));
    return out;
}

void SessionStore::for_each_command(const std::string& session_id, const std::function<void(CommandRecord&&)>& on_command) {
    auto st = db_.prepare(fmt::format("SELECT {} FROM commands WHERE session_id = ?1 ORDER BY seq", kCommandColumns));
    st.bind(1, session_id);
    while (st.step()) on_command(read_command(st, session_id));
}

std::optional<CommandRecord> SessionStore::command(const std::string& session_id, uint32_t seq) {
    auto st = db_.prepare(fmt::format("SELECT {} FROM commands WHERE session_id = ?1 AND seq = ?2", kCommandColumns));
    st.bind(1, session_id).bind(2, static_cast<int64_t>(seq));
    if (!st.step()) return std::nullopt;
    return read_command(st, session_id);
}

namespace {

constexpr const char* kChunkColumns =
    "seq, first_offset_us, last_offset_us, frames, output_bytes, input_bytes, encoding, raw_size, data, chain_index, "
    "chain_hash";

// One io_chunks row (kChunkColumns), decompressed.
std::expected<void, std::string> read_chunk_row(const Statement& st, const std::string& session_id, ChunkRecord& r) {
    r.session_id = session_id;
    r.seq = static_cast<uint32_t>(st.column_int(0));
    r.first_offset_us = static_cast<uint64_t>(st.column_int(1));
    r.last_offset_us = static_cast<uint64_t>(st.column_int(2));
    r.frames = static_cast<uint32_t>(st.column_int(3));
    r.output_bytes = static_cast<uint64_t>(st.column_int(4));
    r.input_bytes = static_cast<uint64_t>(st.column_int(5));
    if (auto v = st.column_optional_int(9)) r.chain_index = static_cast<uint64_t>(*v);
    r.chain_hash = st.column_blob(10);
    int64_t encoding = st.column_int(6);
    int64_t raw_size = st.column_int(7);
    std::string data = st.column_blob(8);
    if (encoding == 1) {
        auto raw = zstd_decompress(data, static_cast<size_t>(std::max<int64_t>(raw_size, 0)));
        if (!raw) return std::unexpected(fmt::format("chunk {} of session {}: {}", r.seq, session_id, raw.error()));
        r.frames_data = std::move(*raw);
    } else if (encoding == 0) {
        r.frames_data = std::move(data);
    } else {
        return std::unexpected(fmt::format("chunk {} of session {}: unknown encoding {}", r.seq, session_id, encoding));
    }
    return {};
}

}  // namespace

std::expected<void, std::string> SessionStore::for_each_chunk(const std::string& session_id,
                                                              const std::function<void(const ChunkRecord&)>& on_chunk) {
    auto st = db_.prepare(fmt::format("SELECT {} FROM io_chunks WHERE session_id = ?1 ORDER BY seq", kChunkColumns));
    st.bind(1, session_id);
    while (st.step()) {
        ChunkRecord r;
        if (auto read = read_chunk_row(st, session_id, r); !read) return read;
        on_chunk(r);
    }
    return {};
}

std::expected<ChunkRecord, std::string> SessionStore::chunk(const std::string& session_id, uint32_t seq) {
    auto st = db_.prepare(fmt::format("SELECT {} FROM io_chunks WHERE session_id = ?1 AND seq = ?2", kChunkColumns));
    st.bind(1, session_id).bind(2, static_cast<int64_t>(seq));
    if (!st.step()) return std::unexpected(fmt::format("chunk {} of session {}: not in the database", seq, session_id));
    ChunkRecord r;
    if (auto read = read_chunk_row(st, session_id, r); !read) return std::unexpected(read.error());
    return r;
}

std::expected<ChunkRecord, std::string> decode_stored_chunk(StoredChunkRecord s) {
    ChunkRecord r;
    r.session_id = s.session_id;
    r.seq = s.seq;
    r.first_offset_us = s.first_offset_us;
    r.last_offset_us = s.last_offset_us;
    r.frames = s.frames;
    r.output_bytes = s.output_bytes;
    r.input_bytes = s.input_bytes;
    r.chain_index = s.chain_index;
    r.chain_hash = s.chain_hash;
    if (s.encoding == 1) {
        auto raw = zstd_decompress(s.data, static_cast<size_t>(s.raw_size));
        if (!raw) return std::unexpected(fmt::format("chunk {} of session {}: {}", r.seq, r.session_id, raw.error()));
        r.frames_data = std::move(*raw);
    } else if (s.encoding == 0) {
        r.frames_data = std::move(s.data);
    } else {
        return std::unexpected(fmt::format("chunk {} of session {}: unknown encoding {}", r.seq, r.session_id, s.encoding));
    }
    return r;
}

std::optional<StoredChunkRecord> SessionStore::stored_chunk(const std::string& session_id, uint32_t seq) {
    auto st = db_.prepare(fmt::format("SELECT {} FROM io_chunks WHERE session_id = ?1 AND seq = ?2", kChunkColumns));
    st.bind(1, session_id).bind(2, static_cast<int64_t>(seq));
    if (!st.step()) return std::nullopt;
    StoredChunkRecord r;
    r.session_id = session_id;
    r.seq = static_cast<uint32_t>(st.column_int(0));
    r.first_offset_us = static_cast<uint64_t>(st.column_int(1));
    r.last_offset_us = static_cast<uint64_t>(st.column_int(2));
    r.frames = static_cast<uint32_t>(st.column_int(3));
    r.output_bytes = static_cast<uint64_t>(st.column_int(4));
    r.input_bytes = static_cast<uint64_t>(st.column_int(5));
    r.encoding = static_cast<int>(st.column_int(6));
    r.raw_size = static_cast<uint64_t>(std::max<int64_t>(st.column_int(7), 0));
    r.data = st.column_blob(8);
    if (auto v = st.column_optional_int(9)) r.chain_index = static_cast<uint64_t>(*v);
    r.chain_hash = st.column_blob(10);
    return r;
}

}  // namespace execaudit::storage
