#include "storage/request_store.h"

#include "common/text.h"
#include "storage/session_store.h"

#include <fmt/format.h>

namespace execaudit::storage {
namespace {

constexpr const char* kColumns =
    "id, source, kind, verb, namespace, pod, container, command, tty, stdin, user, user_uid, groups_json, "
    "user_extra_json, impersonated_user, impersonated_groups_json, source_ips_json, user_agent, authz_decision, "
    "authz_reason, response_code, response_message, received_ns, started_ns, completed_ns, state, session_id, updated_ns, "
    "audit_id, verified, command_lp";

ExecRequestRecord read_request(const Statement& st) {
    ExecRequestRecord r;
    int c = 0;
    r.id = st.column_text(c++);
    r.source = st.column_text(c++);
    r.kind = st.column_text(c++);
    r.verb = st.column_text(c++);
    r.namespace_name = st.column_text(c++);
    r.pod = st.column_text(c++);
    r.container = st.column_text(c++);
    r.command = split_nul(st.column_blob(c++));
    r.tty = st.column_int(c++) != 0;
    r.stdin = st.column_int(c++) != 0;
    auto& who = r.requester;
    who.user = st.column_text(c++);
    who.user_uid = st.column_text(c++);
    who.groups_json = st.column_text(c++);
    who.user_extra_json = st.column_text(c++);
    who.impersonated_user = st.column_text(c++);
    who.impersonated_groups_json = st.column_text(c++);
    who.source_ips_json = st.column_text(c++);
    who.user_agent = st.column_text(c++);
    who.authz_decision = st.column_text(c++);
    who.authz_reason = st.column_text(c++);
    r.response_code = static_cast<int>(st.column_int(c++));
    r.response_message = st.column_text(c++);
    r.received_ns = st.column_int(c++);
    r.started_ns = st.column_optional_int(c++);
    r.completed_ns = st.column_optional_int(c++);
    r.state = st.column_text(c++);
    r.session_id = st.column_optional_text(c++);
    r.updated_ns = st.column_int(c++);
    r.audit_id = st.column_text(c++);
    r.verified = st.column_int(c++) != 0;
    if (auto packed = st.column_blob(c++); !packed.empty()) r.command = unpack_argv(packed);
    return r;
}

}  // namespace

std::string pack_argv(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        uint32_t n = static_cast<uint32_t>(a.size());
        for (int i = 0; i < 4; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
        out += a;
    }
    return out;
}

std::vector<std::string> unpack_argv(std::string_view packed) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i + 4 <= packed.size()) {
        uint32_t n = 0;
        for (int k = 0; k < 4; ++k) n |= static_cast<uint32_t>(static_cast<unsigned char>(packed[i + k])) << (8 * k);
        i += 4;
        if (n > packed.size() - i) break;  // damaged: keep what is whole
        out.emplace_back(packed.substr(i, n));
        i += n;
    }
    return out;
}

std::vector<ExecRequestRecord> RequestStore::list(const RequestFilter& f) {
    std::string states;
    for (const auto& s : f.states) {
        if (!states.empty()) states += ',';
        states += s;
    }
    auto st = db_.prepare(fmt::format(
        "SELECT {} FROM exec_requests WHERE "
        "(?1 = '' OR instr(',' || ?1 || ',', ',' || state || ',') > 0) AND "
        "(?2 IS NULL OR received_ns >= ?2) AND (?3 IS NULL OR received_ns < ?3) AND "
        "(?4 IS NULL OR namespace = ?4) AND (?5 IS NULL OR pod = ?5) AND (?6 IS NULL OR user = ?6) "
        "ORDER BY received_ns DESC, id LIMIT ?7",
        kColumns));
    st.bind(1, states).bind(2, f.since_ns).bind(3, f.until_ns).bind(4, f.namespace_name).bind(5, f.pod).bind(6, f.user);
    st.bind(7, f.limit ? static_cast<int64_t>(*f.limit) : int64_t{-1});
    std::vector<ExecRequestRecord> out;
    while (st.step()) out.push_back(read_request(st));
    return out;
}

std::vector<ExecRequestRecord> RequestStore::requests_of_session(const std::string& session_id) {
    auto st = db_.prepare(fmt::format(
        "SELECT {} FROM exec_requests WHERE session_id = ?1 OR id IN "
        "(SELECT request_id FROM session_candidates WHERE session_id = ?1) ORDER BY received_ns, id",
        kColumns));
    st.bind(1, session_id);
    std::vector<ExecRequestRecord> out;
    while (st.step()) out.push_back(read_request(st));
    return out;
}

std::optional<LogCursorRecord> RequestStore::log_cursor(const std::string& path) {
    auto st = db_.prepare("SELECT inode, offset FROM audit_log_cursor WHERE path = ?1");
    st.bind(1, path);
    if (!st.step()) return std::nullopt;
    return LogCursorRecord{path, static_cast<uint64_t>(st.column_int(0)), static_cast<uint64_t>(st.column_int(1))};
}

std::vector<SessionRecord> RequestStore::unsettled_sessions(int64_t since_ns) {
    SessionStore sessions(db_);
    std::vector<SessionRecord> out;
    auto truncated = db_.prepare("SELECT argv_truncated FROM commands WHERE session_id = ?1 AND seq = 0");
    for (auto& s : sessions.list(SessionFilter{.since_ns = since_ns}))
        if (s.attribution == "pending" || s.attribution == "unattributed" || s.attribution == "ambiguous" ||
            s.attribution == "workload" || s.status == "open") {
            truncated.bind(1, s.id);
            s.command_truncated = truncated.step() && truncated.column_int(0) != 0;
            truncated.reset();
            out.push_back(std::move(s));
        }
    return out;
}

}  // namespace execaudit::storage
