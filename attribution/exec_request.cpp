#include "attribution/exec_request.h"

namespace execaudit::attribution {

const char* to_string(RequestState state) {
    switch (state) {
        case RequestState::pending: return "pending";
        case RequestState::matched: return "matched";
        case RequestState::ambiguous: return "ambiguous";
        case RequestState::unrecorded: return "unrecorded";
        case RequestState::denied: return "denied";
        case RequestState::failed: return "failed";
        case RequestState::observed: return "observed";
    }
    return "pending";
}

std::optional<RequestState> request_state_from(std::string_view name) {
    for (auto state : {RequestState::pending, RequestState::matched, RequestState::ambiguous, RequestState::unrecorded,
                       RequestState::denied, RequestState::failed, RequestState::observed})
        if (name == to_string(state)) return state;
    return std::nullopt;
}

ExecRequest ExecRequest::from(const AuditEvent& e) {
    ExecRequest r;
    r.id = e.audit_id;
    r.source = "audit";
    r.received_ns = e.received_ns;
    r.merge(e);
    return r;
}

void ExecRequest::merge(const AuditEvent& e) {
    stages.insert(e.stage);
    if (verb.empty()) verb = e.verb;
    if (target.pod.empty() || e.stage == "RequestReceived") target = e.target;
    // Identity is the same in every stage; annotations (the RBAC decision) come with the
    // response stages only.
    std::string decision = identity.decision.empty() ? e.identity.decision : identity.decision;
    std::string reason = identity.reason.empty() ? e.identity.reason : identity.reason;
    if (identity.user.empty() || !e.identity.decision.empty()) identity = e.identity;
    if (identity.decision.empty()) identity.decision = decision;
    if (identity.reason.empty()) identity.reason = reason;
    if (e.response_code) {
        response_code = e.response_code;
        if (!e.response_message.empty()) response_message = e.response_message;
    }
    if (e.received_ns) received_ns = e.received_ns;
    if (e.stage == "ResponseStarted") started_ns = e.stage_ns;
    if (e.stage == "ResponseComplete" || e.stage == "Panic") completed_ns = e.stage_ns;
}

}  // namespace execaudit::attribution
