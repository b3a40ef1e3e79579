#include "export/syslog_format.h"

#include "common/utf8.h"

#include "common/text.h"

#include <fmt/format.h>

#include <map>

namespace execaudit::exporting {
namespace {

// HOSTNAME, APP-NAME, MSGID: 1*N PRINTUSASCII, or "-".
std::string header_field(std::string_view text, size_t max) {
    std::string out;
    for (char c : text.substr(0, max)) out += (c >= 33 && c <= 126) ? c : '_';
    return out.empty() ? "-" : out;
}

// The proto's own name for the kind, as in the JSON records; NILVALUE when it has none.
std::string msgid_of(v1::RecordKind kind) {
    const std::string& name = v1::RecordKind_Name(kind);
    return kind == v1::record_kind_unknown || name.empty() ? "-" : name;
}

int severity_of(v1::RecordKind kind) { return kind == v1::command ? 6 /* info */ : 5 /* notice */; }

std::string argv_text(const google::protobuf::RepeatedPtrField<std::string>& argv) {
    return join_argv({argv.begin(), argv.end()});
}

}  // namespace

std::string sd_param_value(std::string_view text, size_t max_bytes) {
    std::string valid = utf8_lossy(text);
    std::string out;
    out.reserve(valid.size());
    size_t kept = 0;
    for (size_t i = 0; i < valid.size();) {
        auto c = static_cast<unsigned char>(valid[i]);
        size_t len = utf8::sequence_length(c);  // valid UTF-8 from here on
        if (kept + len > max_bytes) break;
        kept += len;
        if (len == 1) {
            if (c == '"' || c == '\\' || c == ']') out += '\\';
            if (c < 0x20 || c == 0x7F) out += ' ';  // a newline in an argv must not end the message for a reader
            else out += static_cast<char>(c);
        } else if (c == 0xC2 && static_cast<unsigned char>(valid[i + 1]) < 0xA0) {
            out += ' ';  // a C1 control (U+0080..U+009F; U+009B is a CSI), replaced as C0 is
        } else {
            out.append(valid, i, len);
        }
        i += len;
    }
    return out;
}

std::string syslog_message(const v1::ExportRecord& r, const SyslogFormat& f) {
    const v1::Session& s = r.session();
    int pri = f.facility * 8 + severity_of(r.kind());
    std::string out = fmt::format("<{}>1 {} {} {} - {} [{}", pri, r.time().empty() ? "-" : r.time(),
                                  header_field(r.node(), 255), header_field(f.app_name, 48), msgid_of(r.kind()),
                                  kSyslogSdId);
    auto param = [&](std::string_view name, std::string_view value) {
        out += fmt::format(" {}=\"{}\"", name, sd_param_value(value, f.max_sd_value_bytes));
    };
    param("record_id", r.record_id());
    param("kind", msgid_of(r.kind()));
    param("session_id", r.session_id());
    param("user", s.has_user() ? s.user() : "");
    param("attribution", v1::Session::Attribution_Name(s.attribution()));
    param("namespace", s.namespace_());
    param("pod", s.pod());
    param("container", s.container());
    // which workload, when the API server said so (absent otherwise); one `label` per label,
    // "key=value" (a key has no '='), as RFC 5424 6.3.3 lets an SD-PARAM repeat
    if (s.has_cluster()) param("cluster", s.cluster());
    if (s.has_workload_ref()) param("workload", s.workload_ref().kind() + "/" + s.workload_ref().name());
    if (s.has_owner()) param("owner", s.owner().kind() + "/" + s.owner().name());
    if (s.has_service_account()) param("service_account", s.service_account());
    if (s.has_labels()) {
        std::map<std::string, std::string> sorted;
        for (const auto& [key, value] : s.labels().fields()) sorted.emplace(key, value.string_value());
        for (const auto& [key, value] : sorted) param("label", key + "=" + value);
    }
    if (s.has_labels_dropped()) param("labels_dropped", std::to_string(s.labels_dropped()));
    if (r.kind() == v1::command) {
        param("command", argv_text(r.command().argv()));
        param("retval", r.command().has_result_lost() ? "unknown" : std::to_string(r.command().retval()));
        param("pid", std::to_string(r.command().pid()));
    } else {
        param("command", argv_text(s.command()));
        param("status", v1::Session::Status_Name(s.status()));
        if (r.kind() == v1::session_end) {
            param("exit_code", s.has_exit_code() ? std::to_string(s.exit_code()) : "unknown");
            param("commands", std::to_string(s.commands()));
            param("output_bytes", std::to_string(s.output_bytes()));
            param("input_bytes", std::to_string(s.input_bytes()));
            param("lost_bytes", std::to_string(s.lost_bytes()));
            param("runs", std::to_string(s.runs()));  // docs/kubelet-execs.md, "Folded runs"
            if (s.has_last_run()) param("last_run", s.last_run());
            if (s.has_chain()) {
                param("chain_head", s.chain().head());
                param("chain_records", std::to_string(s.chain().records()));
            }
        }
    }
    out += "] ";
    std::string json = jsonl_line(r, f.style, /*ascii_only=*/true);
    json.pop_back();  // the newline
    out += json;
    return out;
}

std::string octet_counted(std::string_view message) { return fmt::format("{} {}", message.size(), message); }

}  // namespace execaudit::exporting
