#include "attribution/exec_request.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <array>
#include <utility>

namespace execaudit::attribution {
namespace {

// One names table per state: the only place where a state becomes a string and back.
template <typename E, size_t N>
const char* name_in(const std::array<std::pair<E, const char*>, N>& table, E value) {
    for (const auto& [v, name] : table)
        if (v == value) return name;
    return table[0].second;
}
template <typename E, size_t N>
std::optional<E> value_in(const std::array<std::pair<E, const char*>, N>& table, std::string_view name) {
    for (const auto& [v, n] : table)
        if (name == n) return v;
    return std::nullopt;
}

constexpr std::array<std::pair<RequestState, const char*>, 7> kRequestStates = {{
    {RequestState::pending, "pending"},
    {RequestState::matched, "matched"},
    {RequestState::ambiguous, "ambiguous"},
    {RequestState::unrecorded, "unrecorded"},
    {RequestState::denied, "denied"},
    {RequestState::failed, "failed"},
    {RequestState::observed, "observed"},
}};

constexpr std::array<std::pair<SessionAttribution, const char*>, 7> kAttributions = {{
    {SessionAttribution::pending, "pending"},
    {SessionAttribution::audit, "audit"},
    {SessionAttribution::admission, "admission"},
    {SessionAttribution::ambiguous, "ambiguous"},
    {SessionAttribution::unattributed, "unattributed"},
    {SessionAttribution::workload, "workload"},
    {SessionAttribution::kubelet, "kubelet"},
}};

constexpr std::array<std::pair<EntryKind, const char*>, 7> kEntryKinds = {{
    {EntryKind::exec, "runc"},
    {EntryKind::tty_init, "tty-init"},
    {EntryKind::attach, "attach"},
    {EntryKind::debug, "debug"},
    {EntryKind::nsenter, "nsenter"},
    {EntryKind::kubelet, "probe"},
    {EntryKind::kubelet, "hook"},
}};

std::string short_hash(std::string_view bytes) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
    std::string out;
    for (unsigned i = 0; i < 8 && i < len; ++i) out += fmt::format("{:02x}", md[i]);
    return out;
}

void add_field(std::string& out, std::string_view field) {
    out += std::to_string(field.size());  // length-prefixed: no separator can be forged
    out += ':';
    out += field;
}

}  // namespace

const char* to_string(RequestState state) { return name_in(kRequestStates, state); }
std::optional<RequestState> request_state_from(std::string_view name) { return value_in(kRequestStates, name); }
const char* to_string(SessionAttribution a) { return name_in(kAttributions, a); }
std::optional<SessionAttribution> session_attribution_from(std::string_view name) { return value_in(kAttributions, name); }
const char* to_string(EntryKind kind) { return name_in(kEntryKinds, kind); }
const char* to_string(RequestSource source) { return source == RequestSource::audit ? "audit" : "admission"; }

EntryKind entry_kind_of(std::string_view entered_via) {
    // Anything else (older recorders stored the parent's command name) came in by an exec.
    return value_in(kEntryKinds, entered_via).value_or(EntryKind::exec);
}

std::string request_key(const AuditEvent& e) {
    std::string fields;
    for (std::string_view f : {std::string_view(e.audit_id), std::string_view(e.identity.user), std::string_view(e.identity.uid),
                               std::string_view(e.verb), std::string_view(e.target.kind),
                               std::string_view(e.target.namespace_name), std::string_view(e.target.pod),
                               std::string_view(e.request_uri)})
        add_field(fields, f);
    add_field(fields, std::to_string(e.received_ns));
    return e.audit_id + "/" + short_hash(fields);
}

std::string request_key(const ExecRequest& r) {
    std::string fields;
    for (std::string_view f : {std::string_view(r.audit_id), std::string_view(r.identity.user), std::string_view(r.identity.uid),
                               std::string_view(r.target.kind), std::string_view(r.target.namespace_name),
                               std::string_view(r.target.pod), std::string_view(r.target.container)})
        add_field(fields, f);
    for (const auto& a : r.target.command) add_field(fields, a);
    add_field(fields, r.verified ? "verified" : "unverified");
    return r.audit_id + "/" + short_hash(fields);
}

ExecRequest ExecRequest::from(const AuditEvent& e) {
    ExecRequest r;
    r.id = request_key(e);
    r.audit_id = e.audit_id;
    r.source = RequestSource::audit;
    r.received_ns = e.received_ns;
    r.target = e.target;
    r.identity = e.identity;
    r.merge(e);
    return r;
}

void ExecRequest::merge(const AuditEvent& e) {
    stages.insert(e.stage);
    if (verb.empty()) verb = e.verb;
    // Every stage of one request carries the same user, target and requestURI (they are part
    // of its key); annotations (the authorization decision) and impersonation come later.
    if (!e.identity.decision.empty()) identity.decision = e.identity.decision;
    if (!e.identity.reason.empty()) identity.reason = e.identity.reason;
    if (!e.identity.impersonated_user.empty()) {
        identity.impersonated_user = e.identity.impersonated_user;
        identity.impersonated_groups = e.identity.impersonated_groups;
    }
    if (e.response_code) {
        // The final word is ResponseComplete's: a 101 stream that then failed stays 101, a
        // refusal stays a refusal.
        if (!response_code || e.stage == "ResponseComplete" || e.stage == "Panic") response_code = e.response_code;
        if (!e.response_message.empty()) response_message = e.response_message;
    }
    if (e.stage == "ResponseStarted") {
        started_ns = e.stage_ns;
        if (e.response_code) started_code = e.response_code;
    }
    if (e.stage == "ResponseComplete" || e.stage == "Panic") completed_ns = e.stage_ns;
}

bool ExecRequest::streamed() const { return started_code == 101 || started_code == 200; }

bool ExecRequest::failed() const {
    for (const auto& a : target.command)
        if (a.find('\0') != std::string::npos) return true;
    // A stream that was opened had its session, whatever went wrong after.
    return !denied() && !streamed() && response_code >= 400;
}

bool ExecRequest::decided() const {
    if (denied() || failed()) return false;
    if (streamed() || response_code == 101 || response_code == 200) return true;
    return identity.decision == "allow" && response_code < 400;
}

}  // namespace execaudit::attribution
