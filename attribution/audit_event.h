#pragma once
// audit.k8s.io/v1 Events, as the API server's webhook and log backends send them, reduced to
// what correlation needs. Only pods/exec, pods/attach and pods/ephemeralcontainers are kept;
// clusters send thousands of other events per second, which are skipped before a full parse
// where possible. Everything here is untrusted input: bounded, validated, never a crash.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::attribution {

/// Who asked, as the API server authenticated and authorized them.
struct RequestIdentity {
    std::string user;
    std::string uid;
    std::vector<std::string> groups;
    std::string extra_json = "{}";  ///< user.extra as JSON (e.g. the credential id)
    std::string impersonated_user;  ///< set when the request was impersonated (kubectl --as)
    std::vector<std::string> impersonated_groups;
    std::vector<std::string> source_ips;
    std::string user_agent;
    std::string decision;  ///< authorization.k8s.io/decision: allow | forbid
    std::string reason;    ///< authorization.k8s.io/reason (e.g. which RoleBinding)
};

/// What the request asked for, from objectRef and the requestURI's query.
struct ExecTarget {
    std::string kind;  ///< exec | attach | ephemeralcontainers
    std::string namespace_name;
    std::string pod;
    std::string container;  ///< empty: the pod's only (or default) container
    std::vector<std::string> command;
    bool tty = false;
    bool stdin = false;
    bool command_truncated = false;  ///< more than kMaxCommandArgs arguments: only those are kept
};

/// One stage of one request.
struct AuditEvent {
    std::string audit_id;
    std::string stage;  ///< RequestReceived | ResponseStarted | ResponseComplete | Panic
    std::string verb;   ///< create (SPDY) | get (WebSocket)
    ExecTarget target;
    RequestIdentity identity;
    int response_code = 0;  ///< 0 when the stage has no response yet
    std::string response_message;
    int64_t received_ns = 0;  ///< requestReceivedTimestamp
    int64_t stage_ns = 0;     ///< stageTimestamp
    std::string request_uri;  ///< as the API server logged it (part of the request's key)
    std::string raw_json;     ///< the event as received, for the record
};

/// The command, container, tty and stdin of an exec/attach requestURI
/// ("/api/v1/namespaces/ns/pods/p/exec?command=%2Fbin%2Fsh&command=-c&container=app&tty=true"),
/// exactly as kube-apiserver makes PodExecOptions / PodAttachOptions of it, which is what the
/// kubelet runs: Go's url.ParseQuery (pairs split on '&'; a pair containing ';' or a bad
/// %-escape is dropped, the others kept), then apimachinery's url.Values conversion (scalars
/// take the first value; booleans are false only when absent, "false" or "0" in any case).
/// tests/fixtures/audit/crafted-queries.jsonl has the cases.
struct DecodedRequestUri {
    std::string namespace_name, pod, subresource;
    std::vector<std::string> command;
    bool command_truncated = false;
    std::string container;
    bool tty = false, stdin = false;
    size_t dropped_pairs = 0;  ///< pairs the API server drops too (bad escape, ';')
};
std::expected<DecodedRequestUri, std::string> decode_request_uri(std::string_view uri);

/// Go's url.QueryUnescape: '+' is a space; an error for a bad or truncated %-escape.
std::expected<std::string, std::string> percent_decode(std::string_view s);
/// apimachinery's Convert_Slice_string_To_bool for one (the first) value.
bool kube_query_bool(std::string_view value);

/// Arguments kept per request (far above any argv bound the kernel side records).
inline constexpr size_t kMaxCommandArgs = 8192;
/// A requestURI longer than this is refused (the API server's request line is bounded at 1 MiB).
inline constexpr size_t kMaxRequestUri = 2u << 20;
/// An exec-like EventList item larger than this is refused (Metadata-level ones are ~2 KiB).
inline constexpr size_t kMaxEventBytes = 4u << 20;

/// One Event object: nullopt when it is not an exec-like request (skipped), an error when it is
/// one but malformed.
std::expected<std::optional<AuditEvent>, std::string> parse_audit_event(const nlohmann::json& event);

/// One line of the log backend: skipped cheaply when it cannot be an exec-like event.
std::expected<std::optional<AuditEvent>, std::string> parse_audit_log_line(std::string_view line);

struct ParsedEventList {
    std::vector<AuditEvent> events;  ///< the exec-like ones
    size_t skipped = 0;              ///< other events
    size_t malformed = 0;            ///< exec-like items that were malformed
    std::vector<std::string> errors;  ///< the first few of their reasons
};
/// A webhook body: {"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[...]}.
/// Scanned, not parsed whole: memory stays about one item, whatever the body holds; only items
/// that can be exec-like are parsed (raw_json is the item's bytes as received). An error when
/// the body is not an EventList at all.
std::expected<ParsedEventList, std::string> parse_event_list(std::string_view body);

/// Times an event may carry, against this node's clock: an event more than `future_ns` ahead
/// is refused (a broken or forged clock would keep it waiting forever).
std::expected<void, std::string> check_event_times(const AuditEvent& event, int64_t now_ns, int64_t future_ns);

/// Fields of a request body from the API server, bounded (every byte is untrusted): a string
/// cut at 64 KiB, empty when absent or not a string; a string array of at most 1024 such strings.
std::string json_string(const nlohmann::json& obj, const char* key);
std::vector<std::string> json_strings(const nlohmann::json& obj, const char* key);

/// Nesting deeper than this is refused before parsing (hostile bodies).
inline constexpr size_t kMaxJsonDepth = 64;
/// True when `text` nests brackets deeper than `limit` (strings are skipped correctly).
bool json_too_deep(std::string_view text, size_t limit = kMaxJsonDepth);

}  // namespace execaudit::attribution
