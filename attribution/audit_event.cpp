#include "attribution/audit_event.h"

#include "common/text.h"
#include "common/time_format.h"

#include <fmt/format.h>

#include <cctype>
#include <climits>
#include <cstring>

namespace execaudit::attribution {
namespace {

using nlohmann::json;

constexpr size_t kMaxString = 64 * 1024;
constexpr size_t kMaxErrorsKept = 8;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

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

bool kube_query_bool(std::string_view v) {
    auto lower_is = [&](std::string_view word) {
        if (v.size() != word.size()) return false;
        for (size_t i = 0; i < v.size(); ++i)
            if (std::tolower(static_cast<unsigned char>(v[i])) != word[i]) return false;
        return true;
    };
    return !(lower_is("false") || lower_is("0"));
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

    // Go's parseQuery, then the url.Values conversion: the first value of a scalar counts.
    bool have_container = false, have_tty = false, have_stdin = false;
    for (std::string_view rest = query; !rest.empty();) {
        size_t amp = rest.find('&');
        std::string_view pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
        if (pair.find(';') != std::string_view::npos) {
            ++out.dropped_pairs;
            continue;
        }
        if (pair.empty()) continue;
        size_t eq = pair.find('=');
        auto key = percent_decode(pair.substr(0, eq));
        auto value = percent_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
        if (!key || !value) {
            ++out.dropped_pairs;
            continue;
        }
        if (*key == "command") {
            if (out.command.size() < kMaxCommandArgs) out.command.push_back(std::move(*value));
            else out.command_truncated = true;
        } else if (*key == "container" && !have_container) {
            out.container = std::move(*value);
            have_container = true;
        } else if (*key == "tty" && !have_tty) {
            out.tty = kube_query_bool(*value);
            have_tty = true;
        } else if (*key == "stdin" && !have_stdin) {
            out.stdin = kube_query_bool(*value);
            have_stdin = true;
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
    std::string uri;
    if (auto u = event.find("requestURI"); u != event.end() && u->is_string()) {
        if (u->get_ref<const std::string&>().size() > kMaxRequestUri)
            return std::unexpected(fmt::format("event {}: requestURI over {} bytes", e.audit_id, kMaxRequestUri));
        uri = u->get<std::string>();
    }
    auto decoded = decode_request_uri(uri);
    if (!decoded) return std::unexpected(fmt::format("event {}: {}", e.audit_id, decoded.error()));
    e.target.kind = subresource;
    e.target.namespace_name = json_string(*ref, "namespace");
    e.target.pod = json_string(*ref, "name");
    if (e.target.namespace_name.empty()) e.target.namespace_name = decoded->namespace_name;
    if (e.target.pod.empty()) e.target.pod = decoded->pod;
    e.target.container = decoded->container;
    e.target.command = std::move(decoded->command);
    e.target.command_truncated = decoded->command_truncated;
    e.request_uri = std::move(uri);
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
        // metav1.Status.Code is an int32 HTTP status: anything else is not the API server's, and
        // truncating it could turn a refusal into a 101 (or the reverse).
        if (auto c = r->find("code"); c != r->end() && !c->is_null()) {
            bool is_status = c->is_number_unsigned() ? c->get<uint64_t>() <= 999
                             : c->is_number_integer() ? c->get<int64_t>() >= 0 && c->get<int64_t>() <= 999
                                                      : false;
            if (!is_status) return std::unexpected(fmt::format("event {}: responseStatus.code is not an HTTP status", e.audit_id));
            e.response_code = c->get<int>();
        }
        e.response_message = json_string(*r, "message");
    }
    auto received = time_of(event, "requestReceivedTimestamp");
    auto stage_time = time_of(event, "stageTimestamp");
    if (!received) return std::unexpected(fmt::format("event {}: missing or bad requestReceivedTimestamp", e.audit_id));
    if (!json_string(event, "stageTimestamp").empty() && !stage_time)
        return std::unexpected(fmt::format("event {}: bad stageTimestamp", e.audit_id));
    e.received_ns = *received;
    e.stage_ns = stage_time.value_or(*received);
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
    auto e = parse_audit_event(event);
    if (e && *e) (*e)->raw_json = std::string(line);
    return e;
}

namespace {

// A scanner over a JSON text that finds value boundaries without building anything: the
// webhook body can be tens of MiB of whatever the sender likes, and only a few of its items
// matter. It checks structure (brackets, strings, escapes); the items it hands over are then
// parsed, and checked fully, by nlohmann::json.
class JsonScanner {
public:
    explicit JsonScanner(std::string_view text) : t_(text) {}
    void ws() {
        while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) ++i_;
    }
    bool eat(char c) {
        ws();
        if (i_ < t_.size() && t_[i_] == c) {
            ++i_;
            return true;
        }
        return false;
    }
    bool peek(char c) {
        ws();
        return i_ < t_.size() && t_[i_] == c;
    }
    bool at_end() {
        ws();
        return i_ == t_.size();
    }
    /// A string's raw contents (escapes left as they are); false when it is not a string.
    bool string(std::string_view& raw) {
        ws();
        if (i_ >= t_.size() || t_[i_] != '"') return false;
        size_t start = ++i_;
        while (i_ < t_.size() && t_[i_] != '"') {
            if (static_cast<unsigned char>(t_[i_]) < 0x20) return false;
            i_ += t_[i_] == '\\' ? 2 : 1;
        }
        if (i_ >= t_.size()) return false;
        raw = t_.substr(start, i_ - start);
        ++i_;
        return true;
    }
    /// Skips one value of any kind; its text in `raw`.
    bool value(std::string_view& raw) {
        ws();
        size_t start = i_;
        size_t depth = 0;
        do {
            ws();
            if (i_ >= t_.size()) return false;
            char c = t_[i_];
            if (c == '"') {
                std::string_view s;
                if (!string(s)) return false;
            } else if (c == '{' || c == '[') {
                if (++depth > kMaxJsonDepth) return false;
                ++i_;
            } else if (c == '}' || c == ']') {
                if (depth == 0) return false;
                --depth;
                ++i_;
            } else if (c == ',' || c == ':') {
                if (depth == 0) return false;
                ++i_;
            } else {
                size_t lit = i_;
                while (i_ < t_.size() && std::strchr(",:]} \t\r\n{[\"", t_[i_]) == nullptr) ++i_;
                if (i_ == lit) return false;
            }
        } while (depth > 0);
        raw = t_.substr(start, i_ - start);
        return true;
    }

private:
    std::string_view t_;
    size_t i_ = 0;
};

bool may_be_exec_like(std::string_view item) {
    return item.find("exec") != std::string_view::npos || item.find("attach") != std::string_view::npos ||
           item.find("ephemeralcontainers") != std::string_view::npos;
}

void note_error(ParsedEventList& out, std::string error) {
    ++out.malformed;
    if (out.errors.size() < kMaxErrorsKept) out.errors.push_back(std::move(error));
}

}  // namespace

std::expected<ParsedEventList, std::string> parse_event_list(std::string_view body) {
    const std::string not_a_list = "body is not an audit.k8s.io EventList (a JSON object with kind EventList)";
    JsonScanner scan(body);
    if (!scan.eat('{')) return std::unexpected(not_a_list);
    ParsedEventList out;
    bool is_event_list = false, saw_items = false;
    std::string_view items_text;
    if (!scan.peek('}')) {
        do {
            std::string_view key, raw;
            if (!scan.string(key) || !scan.eat(':')) return std::unexpected("body is not valid JSON");
            if (key == "kind") {
                if (!scan.value(raw)) return std::unexpected("body is not valid JSON");
                is_event_list = raw == "\"EventList\"";
            } else if (key == "items") {
                if (!scan.value(raw)) return std::unexpected("body is not valid JSON");
                items_text = raw;
                saw_items = true;
            } else if (!scan.value(raw)) {
                return std::unexpected("body is not valid JSON");
            }
        } while (scan.eat(','));
    }
    if (!scan.eat('}') || !scan.at_end()) return std::unexpected("body is not valid JSON");
    if (!is_event_list) return std::unexpected(not_a_list);
    if (!saw_items || items_text == "null") return out;

    JsonScanner items(items_text);
    if (!items.eat('[')) return std::unexpected("EventList items is not an array");
    if (items.eat(']')) return out;
    do {
        std::string_view item;
        if (!items.value(item)) return std::unexpected("body is not valid JSON");
        if (!may_be_exec_like(item)) {
            ++out.skipped;  // the cheap path: most of a cluster's traffic
            continue;
        }
        if (item.size() > kMaxEventBytes) {
            note_error(out, fmt::format("an exec-like item of {} bytes is over the {} byte limit", item.size(), kMaxEventBytes));
            continue;
        }
        json event = json::parse(item, nullptr, false);
        if (event.is_discarded()) {
            note_error(out, "an item is not valid JSON (or not UTF-8)");
            continue;
        }
        auto e = parse_audit_event(event);
        if (!e) {
            note_error(out, e.error());
        } else if (*e) {
            (*e)->raw_json = std::string(item);
            out.events.push_back(std::move(**e));
        } else {
            ++out.skipped;
        }
    } while (items.eat(','));
    if (!items.eat(']') || !items.at_end()) return std::unexpected("body is not valid JSON");
    return out;
}

std::expected<void, std::string> check_event_times(const AuditEvent& e, int64_t now_ns, int64_t future_ns) {
    int64_t limit = now_ns > INT64_MAX - future_ns ? INT64_MAX : now_ns + future_ns;
    if (e.received_ns > limit || e.stage_ns > limit)
        return std::unexpected(fmt::format("event {} is dated {}, ahead of this node's clock by more than {} s", e.audit_id,
                                           format_rfc3339_us(std::max(e.received_ns, e.stage_ns)), future_ns / 1'000'000'000));
    if (e.stage_ns < e.received_ns)
        return std::unexpected(fmt::format("event {}: its stage is dated before the request was received", e.audit_id));
    return {};
}

}  // namespace execaudit::attribution
