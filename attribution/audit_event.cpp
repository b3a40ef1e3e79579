#include "attribution/audit_event.h"

#include "common/text.h"
#include "common/time_format.h"

#include <fmt/format.h>

namespace execaudit::attribution {
namespace {

using nlohmann::json;

constexpr size_t kMaxCommandArgs = 1024;
constexpr size_t kMaxString = 64 * 1024;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool truthy(std::string_view v) { return v == "true" || v == "1"; }

std::optional<int64_t> time_of(const json& event, const char* key) {
    auto s = json_string(event, key);
    if (s.empty()) return std::nullopt;
    auto t = parse_rfc3339(s);
    if (!t) return std::nullopt;
    return *t;
}

}  // namespace

std::string json_string(const json& obj, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) return {};
    const auto& s = it->get_ref<const std::string&>();
    return s.size() > kMaxString ? s.substr(0, kMaxString) : s;
}

std::vector<std::string> json_strings(const json& obj, const char* key) {
    std::vector<std::string> out;
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_array()) return out;
    for (const auto& v : *it) {
        if (out.size() >= kMaxCommandArgs) break;
        if (v.is_string()) out.push_back(v.get_ref<const std::string&>().substr(0, kMaxString));
    }
    return out;
}

std::expected<std::string, std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= s.size()) return std::unexpected("truncated %-escape");
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::unexpected(fmt::format("bad %-escape '%{}{}'", s[i + 1], s[i + 2]));
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

std::expected<DecodedRequestUri, std::string> decode_request_uri(std::string_view uri) {
    DecodedRequestUri out;
    size_t q = uri.find('?');
    std::string_view path = uri.substr(0, q);
    std::string_view query = q == std::string_view::npos ? std::string_view() : uri.substr(q + 1);

    // /api/v1/namespaces/<ns>/pods/<pod>/<subresource>
    std::vector<std::string_view> parts;
    for (size_t pos = 0; pos < path.size();) {
        size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        if (end > pos) parts.push_back(path.substr(pos, end - pos));
        pos = end + 1;
    }
    for (size_t i = 0; i + 3 < parts.size(); ++i) {
        if (parts[i] == "namespaces" && parts[i + 2] == "pods") {
            out.namespace_name = std::string(parts[i + 1]);
            out.pod = std::string(parts[i + 3]);
            if (i + 4 < parts.size()) out.subresource = std::string(parts[i + 4]);
            break;
        }
    }

    for (size_t pos = 0; pos < query.size();) {
        size_t end = query.find('&', pos);
        if (end == std::string_view::npos) end = query.size();
        std::string_view pair = query.substr(pos, end - pos);
        pos = end + 1;
        size_t eq = pair.find('=');
        auto key = percent_decode(pair.substr(0, eq));
        auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
        if (!key || !value) return std::unexpected(fmt::format("requestURI query: {}", !key ? key.error() : value.error()));
        if (*key == "command") {
            if (out.command.size() >= kMaxCommandArgs) return std::unexpected("requestURI has too many command arguments");
            out.command.push_back(std::move(*value));
        } else if (*key == "container") {
            out.container = std::move(*value);
        } else if (*key == "tty") {
            out.tty = truthy(*value);
        } else if (*key == "stdin") {
            out.stdin = truthy(*value);
        }
    }
    return out;
}

std::expected<std::optional<AuditEvent>, std::string> parse_audit_event(const json& event) {
    if (!event.is_object()) return std::unexpected("an audit event is not a JSON object");
    auto ref = event.find("objectRef");
    if (ref == event.end() || !ref->is_object()) return std::optional<AuditEvent>();
    std::string resource = json_string(*ref, "resource");
    std::string subresource = json_string(*ref, "subresource");
    if (resource != "pods" || (subresource != "exec" && subresource != "attach" && subresource != "ephemeralcontainers"))
        return std::optional<AuditEvent>();

    AuditEvent e;
    e.audit_id = json_string(event, "auditID");
    if (e.audit_id.empty()) return std::unexpected("pods/" + subresource + " event without an auditID");
    e.stage = json_string(event, "stage");
    e.verb = json_string(event, "verb");
    std::string uri = json_string(event, "requestURI");
    auto decoded = decode_request_uri(uri);
    if (!decoded) return std::unexpected(fmt::format("event {}: {}", e.audit_id, decoded.error()));
    e.target.kind = subresource;
    e.target.namespace_name = json_string(*ref, "namespace");
    e.target.pod = json_string(*ref, "name");
    if (e.target.namespace_name.empty()) e.target.namespace_name = decoded->namespace_name;
    if (e.target.pod.empty()) e.target.pod = decoded->pod;
    e.target.container = decoded->container;
    e.target.command = std::move(decoded->command);
    e.target.tty = decoded->tty;
    e.target.stdin = decoded->stdin;
    if (e.target.namespace_name.empty() || e.target.pod.empty())
        return std::unexpected(fmt::format("event {}: no namespace/pod in objectRef or requestURI", e.audit_id));

    auto& id = e.identity;
    if (auto u = event.find("user"); u != event.end() && u->is_object()) {
        id.user = json_string(*u, "username");
        id.uid = json_string(*u, "uid");
        id.groups = json_strings(*u, "groups");
        if (auto x = u->find("extra"); x != u->end() && x->is_object()) id.extra_json = x->dump(-1, ' ', false, json::error_handler_t::replace);
    }
    if (auto u = event.find("impersonatedUser"); u != event.end() && u->is_object()) {
        id.impersonated_user = json_string(*u, "username");
        id.impersonated_groups = json_strings(*u, "groups");
    }
    id.source_ips = json_strings(event, "sourceIPs");
    id.user_agent = json_string(event, "userAgent");
    if (auto a = event.find("annotations"); a != event.end() && a->is_object()) {
        id.decision = json_string(*a, "authorization.k8s.io/decision");
        id.reason = json_string(*a, "authorization.k8s.io/reason");
    }
    if (auto r = event.find("responseStatus"); r != event.end() && r->is_object()) {
        if (auto c = r->find("code"); c != r->end() && c->is_number_integer()) e.response_code = c->get<int>();
        e.response_message = json_string(*r, "message");
    }
    auto received = time_of(event, "requestReceivedTimestamp");
    auto stage_time = time_of(event, "stageTimestamp");
    if (!received) return std::unexpected(fmt::format("event {}: missing or bad requestReceivedTimestamp", e.audit_id));
    e.received_ns = *received;
    e.stage_ns = stage_time.value_or(*received);
    e.raw_json = event.dump(-1, ' ', false, json::error_handler_t::replace);
    return std::optional<AuditEvent>(std::move(e));
}

bool json_too_deep(std::string_view text, size_t limit) {
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

std::expected<std::optional<AuditEvent>, std::string> parse_audit_log_line(std::string_view line) {
    // The cheap skip: an exec-like event names its subresource in plain text.
    if (line.find("exec") == std::string_view::npos && line.find("attach") == std::string_view::npos &&
        line.find("ephemeralcontainers") == std::string_view::npos)
        return std::optional<AuditEvent>();
    if (json_too_deep(line)) return std::unexpected("audit log line nests deeper than 64 levels");
    json event = json::parse(line, nullptr, false);
    if (event.is_discarded()) return std::unexpected("audit log line is not valid JSON");
    return parse_audit_event(event);
}

std::expected<ParsedEventList, std::string> parse_event_list(std::string_view body) {
    if (json_too_deep(body)) return std::unexpected("body nests deeper than 64 levels");
    json list = json::parse(body, nullptr, false);
    if (list.is_discarded()) return std::unexpected("body is not valid JSON (or not UTF-8)");
    if (!list.is_object() || json_string(list, "kind") != "EventList")
        return std::unexpected("body is not an audit.k8s.io EventList (kind must be EventList)");
    auto items = list.find("items");
    ParsedEventList out;
    if (items == list.end() || items->is_null()) return out;
    if (!items->is_array()) return std::unexpected("EventList items is not an array");
    for (const auto& item : *items) {
        auto e = parse_audit_event(item);
        if (!e) out.errors.push_back(e.error());
        else if (*e) out.events.push_back(std::move(**e));
        else ++out.skipped;
    }
    return out;
}

}  // namespace execaudit::attribution
