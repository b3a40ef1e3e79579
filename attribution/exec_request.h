#pragma once
// One API request to enter a container (pods/exec, pods/attach, pods/ephemeralcontainers), merged
// from its audit stages (any order) or taken from one admission review; and the typed states of
// correlation. Strings for states exist only at the storage and output boundary (names tables).

#include "attribution/audit_event.h"

#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace execaudit::attribution {

enum class RequestState {
    pending,     ///< waiting: undecided, or its session is not settled yet
    matched,     ///< one session is this request's
    ambiguous,   ///< it fits sessions that cannot be told apart; all are stored as candidates
    unrecorded,  ///< allowed, but no session on this node: not covered, or the recorder was down
    denied,      ///< refused by authorization or admission (403): an attempt
    failed,      ///< refused or failed otherwise (pod or container not found, ...): no session to expect
    observed,    ///< attach / ephemeral container with no terminal session here to join
};
const char* to_string(RequestState state);
/// The inverse of to_string; nullopt for a name this build does not know.
std::optional<RequestState> request_state_from(std::string_view name);

/// What correlation says about a session.
enum class SessionAttribution {
    pending,       ///< not settled: a request (or a rival) may still arrive
    audit,         ///< named by its audit event
    admission,     ///< named by its admission review
    ambiguous,     ///< several requests (or sessions) fit and cannot be told apart: all kept
    unattributed,  ///< no API request: entered around the API server (a finding)
    workload,      ///< a container's own init on its own terminal, nobody attached (not a finding)
    kubelet,       ///< the kubelet's own exec (probe, hook)
};
const char* to_string(SessionAttribution attribution);
std::optional<SessionAttribution> session_attribution_from(std::string_view name);
/// True for verdicts that name a user.
inline bool names_a_user(SessionAttribution a) { return a == SessionAttribution::audit || a == SessionAttribution::admission; }

/// How the node saw a session come in (capture's `entered_via`).
enum class EntryKind {
    exec,      ///< runc exec (kubectl exec), also crictl/ctr exec from the node
    tty_init,  ///< a container's init on a terminal: the workload, or kubectl attach / debug
    attach,    ///< tty_init, confirmed by a pods/attach request
    debug,     ///< tty_init, confirmed by a pods/ephemeralcontainers request
    nsenter,   ///< joined a container's namespaces from outside the pod: never an API request
    kubelet,   ///< a probe or hook the kubelet runs
};
EntryKind entry_kind_of(std::string_view entered_via);
const char* to_string(EntryKind kind);

/// Where the request came from, and whether its sender proved who it was.
enum class RequestSource { audit, admission };
const char* to_string(RequestSource source);

struct ExecRequest {
    std::string id;        ///< the key: auditID (or review uid) + "/" + a hash of what all its stages share
    std::string audit_id;  ///< the auditID (client-choosable) or the admission review's uid
    RequestSource source = RequestSource::audit;
    bool verified = true;  ///< false: from a listener that cannot authenticate its sender
    std::string verb;
    ExecTarget target;
    RequestIdentity identity;
    int response_code = 0;  ///< the last word: ResponseComplete's, else the newest stage's
    int started_code = 0;   ///< ResponseStarted's (101: the stream was opened)
    std::string response_message;
    int64_t received_ns = 0;
    std::optional<int64_t> started_ns;    ///< ResponseStarted (the 101 upgrade)
    std::optional<int64_t> completed_ns;  ///< ResponseComplete (the stream closed)
    std::set<std::string> stages;

    /// Folds one more stage in; later stages refine the response fields.
    void merge(const AuditEvent& stage);
    static ExecRequest from(const AuditEvent& stage);

    bool is_exec() const { return target.kind == "exec"; }
    bool is_attach() const { return target.kind == "attach"; }
    bool is_ephemeral() const { return target.kind == "ephemeralcontainers"; }
    /// The API server opened the stream (ResponseStarted 101/200).
    bool streamed() const;
    bool denied() const { return response_code == 403 || identity.decision == "forbid"; }
    /// Refused or failed without a stream (404 pod, 400 container, 500...): no session will come.
    /// Also an argument with a NUL byte: runc cannot exec it.
    bool failed() const;
    /// The API server let it through: a 101/200 response, or an allow decision without a failure.
    /// Only decided requests can name a session.
    bool decided() const;
    /// When the API server decided it: ResponseStarted, else the receive time (never later).
    int64_t decided_ns() const { return started_ns.value_or(received_ns); }
};

/// The key of a request: what every stage of one request carries identically (auditID,
/// requestReceivedTimestamp, user, verb, objectRef, requestURI), so a client that reuses another
/// request's Audit-ID makes a request of its own instead of overwriting that one.
std::string request_key(const AuditEvent& stage);
/// The same for an admission review (uid, user, target).
std::string request_key(const ExecRequest& review);

}  // namespace execaudit::attribution
