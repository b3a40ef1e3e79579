#pragma once
// One API request to enter a container (pods/exec, pods/attach, pods/ephemeralcontainers), merged
// from its audit stages (any order) or taken from one admission review.

#include "attribution/audit_event.h"

#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace execaudit::attribution {

enum class RequestState {
    pending,     ///< waiting for its session (up to the grace period)
    matched,     ///< one session is this request's
    ambiguous,   ///< several sessions fit equally; all are stored as candidates
    unrecorded,  ///< allowed, but no session on this node: not covered, or the recorder was down
    denied,      ///< refused by authorization (403): an attempt
    failed,      ///< refused or failed otherwise (pod or container not found, ...): no session to expect
    observed,    ///< attach / ephemeral containers: stored, not matched to exec sessions
};
const char* to_string(RequestState state);
/// The inverse of to_string; nullopt for a name this build does not know.
std::optional<RequestState> request_state_from(std::string_view name);

struct ExecRequest {
    std::string id;      ///< the auditID, or the admission review's uid
    std::string source;  ///< "audit" or "admission"
    std::string verb;
    ExecTarget target;
    RequestIdentity identity;
    int response_code = 0;
    std::string response_message;
    int64_t received_ns = 0;
    std::optional<int64_t> started_ns;    ///< ResponseStarted (the 101 upgrade)
    std::optional<int64_t> completed_ns;  ///< ResponseComplete (the stream closed)
    std::set<std::string> stages;

    /// Folds one more stage in; later stages refine the response fields.
    void merge(const AuditEvent& stage);
    static ExecRequest from(const AuditEvent& stage);

    bool is_exec() const { return target.kind == "exec"; }
    bool denied() const { return response_code == 403 || identity.decision == "forbid"; }
    /// Refused or failed without a stream (404 pod, 400 container, 500...): no session will come.
    bool failed() const { return response_code >= 400 && !denied(); }
};

}  // namespace execaudit::attribution
