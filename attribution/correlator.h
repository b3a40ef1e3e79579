#pragma once
// Joins sessions (what the node saw) with API requests (who asked): namespace + pod + container +
// exact argv + tty, the session's start inside [received - skew, (started or received) + slack +
// skew]. One-to-one. Several concurrent twins (same command into the same container) are paired
// in FIFO order and confirmed by completion order; when that cannot be confirmed, every
// candidate is kept and the verdict is `ambiguous` rather than a guess.
//
// Verdicts are recomputed whenever a session or request arrives or changes, so a late event
// fixes an earlier verdict (unattributed -> audit). After the grace period a session with no
// request is `unattributed` (someone entered around the API server), and an allowed exec with
// no session is `unrecorded`. Pure logic: time is passed in, output goes to two callbacks.

#include "attribution/exec_request.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::attribution {

/// What correlation needs to know about a session.
struct SessionFacts {
    std::string id;
    std::string namespace_name, pod, container;
    std::vector<std::string> command;
    bool tty = false;
    int64_t start_ns = 0;
    std::optional<int64_t> end_ns;
};

struct SessionVerdict {
    std::string session_id;
    std::string attribution;  ///< pending | audit | admission | ambiguous | unattributed
    const ExecRequest* request = nullptr;       ///< audit/admission: the request
    std::vector<const ExecRequest*> candidates;  ///< ambiguous: every request that fits
};

/// What was last reported for a session before a restart: reloaded with it, so that only
/// changes are reported again (no repeated findings, no counters counted twice).
struct ReportedSession {
    std::string attribution;
    std::string request_id;
    std::vector<std::string> candidates;
};
/// What was last reported for a request (state and matched session).
struct ReportedRequest {
    RequestState state = RequestState::pending;
    std::string session_id;
};

struct RequestVerdict {
    const ExecRequest* request = nullptr;
    RequestState state = RequestState::pending;
    std::string session_id;  ///< matched
};

class Correlator {
public:
    struct Options {
        int64_t skew_ns = 2'000'000'000;     ///< --audit-skew: API server vs node clocks
        int64_t slack_ns = 5'000'000'000;    ///< a session starts this long after the upgrade at most
        int64_t grace_ns = 60'000'000'000;   ///< --audit-grace: how long a session waits for its request
        int64_t retention_ns = 3600'000'000'000;  ///< forget settled items after this long
    };
    using SessionSink = std::function<void(const SessionVerdict&)>;
    using RequestSink = std::function<void(const RequestVerdict&)>;

    Correlator(Options options, SessionSink on_session, RequestSink on_request);

    /// `reported`: a session reloaded after a restart, with its stored verdict.
    void add_session(const SessionFacts& session, int64_t now_ns, std::optional<ReportedSession> reported = std::nullopt);
    void end_session(const std::string& session_id, int64_t end_ns, int64_t now_ns);
    /// One audit stage: merged into its request by auditID.
    void add_audit_event(const AuditEvent& event, int64_t now_ns);
    /// A whole request (admission reviews, or requests reloaded after a restart with their
    /// stored verdict in `reported`).
    void add_request(ExecRequest request, int64_t now_ns, std::optional<ReportedRequest> reported = std::nullopt);
    /// Applies the grace period and forgets what has settled.
    void tick(int64_t now_ns);

    const ExecRequest* request(const std::string& id) const;
    /// What was last reported for a request: pending with no session before its first verdict.
    ReportedRequest reported(const std::string& request_id) const;
    bool tracks_session(const std::string& id) const { return sessions_.contains(id); }
    size_t requests_tracked() const { return requests_.size(); }
    const Options& options() const { return options_; }

private:
    struct TrackedSession {
        SessionFacts facts;
        std::optional<ReportedSession> last;  ///< what was last reported (only changes are reported)
    };
    struct TrackedRequest {
        ExecRequest request;
        std::optional<ReportedRequest> last;  ///< what was last reported
    };
    using GroupKey = std::string;

    static GroupKey group_of(const std::string& ns, const std::string& pod, const std::vector<std::string>& argv, bool tty);
    bool fits(const SessionFacts& s, const ExecRequest& r) const;
    void correlate(const GroupKey& group, int64_t now_ns);
    void report_session(TrackedSession& s, const std::string& attribution, const ExecRequest* request,
                        std::vector<const ExecRequest*> candidates);
    void report_request(TrackedRequest& r, RequestState state, const std::string& session_id);

    Options options_;
    SessionSink on_session_;
    RequestSink on_request_;
    std::map<std::string, TrackedSession> sessions_;
    std::map<std::string, TrackedRequest> requests_;
    std::multimap<GroupKey, std::string> session_groups_;
    std::multimap<GroupKey, std::string> request_groups_;
};

}  // namespace execaudit::attribution
