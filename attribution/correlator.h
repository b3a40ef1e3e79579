#pragma once
// Joins sessions (what the node saw) with API requests (who asked). Pure logic: time is passed
// in, verdicts go to two callbacks; used by `record` on one node and by `collect` for a cluster.
//
// The rule: a verdict that names a user is reported only once nothing we can foresee can change
// it. So:
// - A request is a candidate only once the API server has decided it (ResponseStarted 101/200,
//   or an allow decision); denied and failed requests never are. An undecided one
//   (RequestReceived only) keeps every session it could fit pending until it is decided or
//   --audit-grace has passed (then it is a possible candidate: never named, only listed).
// - An exec session fits a request when namespace, pod, container, argv (a prefix when the
//   kernel truncated it) and tty match and it started inside the request's window, widened by
//   --audit-skew on both sides: [decided - skew, min(decided + stream setup, completed) + skew].
//   "Decided" is ResponseStarted (the session cannot start before its 101), "completed" is
//   ResponseComplete (a session never starts after its stream closed), and the stream setup
//   bound (30 s) is the kubelet's stream creation timeout: a client controls how long it waits
//   before its exec starts, up to that, so no tighter bound is safe.
// - Only those causal bounds are used to tell sessions apart. Orders (first in, first out; which
//   session ended first) are not evidence: a client controls its own stream's timing (it can
//   delay its exec up to the setup bound, close its stream while its process lives on, or keep
//   it open after its first process exits), so an order could swap two people's names. Within
//   one pod, the fits form components; a component is named only when exactly one pairing
//   covers its sessions; otherwise it is `ambiguous` with every candidate kept, and when it has
//   more sessions than requests, at least that many sessions entered around the API server.
// - A pairing is named once it is settled: --audit-grace after each session started (a rival
//   request can be delivered that late: the webhook backend batches up to 30 s) and past each
//   request's window (no rival session can start after it). Until then it is `pending`.
//   Stored, listed and exported verdicts therefore never pass through a wrong name. An event
//   later than --audit-grace can still change a verdict (a late event fixes `unattributed`).
// - A tty-init session (a container's init on a terminal) is confirmed by pods/attach requests
//   made during its life and by the pods/ephemeralcontainers request it started after; it is
//   named when it has ended and settled; with no such request it is the `workload` itself. An
//   nsenter session can never have an API request: `unattributed` at once.

#include "attribution/exec_request.h"
#include "attribution/kubelet_exec.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

namespace execaudit::attribution {

/// What correlation needs to know about a session.
struct SessionFacts {
    std::string id;
    std::string namespace_name, pod, container;
    std::vector<std::string> command;
    bool command_truncated = false;  ///< the kernel cut its argv: it is a prefix of the real one
    bool tty = false;
    int64_t start_ns = 0;
    std::optional<int64_t> end_ns;
    EntryKind entry = EntryKind::exec;
    bool start_lost = false;  ///< its first record was lost: command and tty are unknown
    /// Whether it was the kubelet's own probe or hook (attribution/kubelet_exec.h), once it has ended;
    /// decides a session no API request explains: `kubelet`, or `unattributed` with the reason.
    std::optional<KubeletJudgement> kubelet;
};

struct SessionVerdict {
    std::string session_id;
    SessionAttribution attribution = SessionAttribution::pending;
    const ExecRequest* request = nullptr;        ///< audit/admission: the request
    std::vector<const ExecRequest*> candidates;  ///< ambiguous: every request that fits
    EntryKind entry = EntryKind::exec;           ///< attach / debug once confirmed
    bool prefix_matched = false;                 ///< its truncated argv matched as a prefix
    size_t surplus_sessions = 0;  ///< ambiguous: at least this many of its rivals had no request
    std::string entered_via;      ///< kubelet: "probe" or "hook"
    std::string reason;           ///< kubelet: which probe or hook; unattributed: why it is no kubelet run ("" none)
};

/// What was last reported for a session before a restart: reloaded with it, so that only
/// changes are reported again (no repeated findings, no counters counted twice).
struct ReportedSession {
    SessionAttribution attribution = SessionAttribution::pending;
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
        int64_t skew_ns = 2'000'000'000;           ///< --audit-skew: API server vs node clocks, both ways
        int64_t stream_setup_ns = 30'000'000'000;  ///< a session starts this long after its 101 at most
        int64_t debug_start_ns = 300'000'000'000;  ///< an ephemeral container starts this long after its request at most (image pull)
        int64_t grace_ns = 60'000'000'000;         ///< --audit-grace: how late a request may arrive
        int64_t retention_ns = 3600'000'000'000;   ///< forget settled items after this long
        size_t max_requests = 50'000;              ///< requests held at once; beyond, has_room() is false
        /// Cluster mode: whether the node hosting a request's pod has uploaded everything up to
        /// `until_ns`; until it has, the request is not `unrecorded` (its session may be on the
        /// way). None (one node): always.
        std::function<bool(const ExecRequest& request, int64_t until_ns)> caught_up;
    };
    struct Stats {
        uint64_t requests_forgotten_early = 0;  ///< settled requests dropped before retention (memory bound)
        uint64_t late_stages_ignored = 0;       ///< stages of a request forgotten early: stored, not correlated
    };
    using SessionSink = std::function<void(const SessionVerdict&)>;
    using RequestSink = std::function<void(const RequestVerdict&)>;

    Correlator(Options options, SessionSink on_session, RequestSink on_request);

    /// `reported`: a session reloaded after a restart, with its stored verdict.
    void add_session(const SessionFacts& session, int64_t now_ns, std::optional<ReportedSession> reported = std::nullopt);
    void end_session(const std::string& session_id, int64_t end_ns, int64_t now_ns);
    /// Whether an exec session was the kubelet's own run (before its grace period ends).
    void classify_session(const std::string& session_id, KubeletJudgement judgement);
    /// One audit stage: merged into its request by key (request_key). Returns the key.
    std::string add_audit_event(const AuditEvent& event, int64_t now_ns);
    /// A whole request (admission reviews, or requests reloaded after a restart with their
    /// stored verdict in `reported`). A second request with the same id is ignored.
    void add_request(ExecRequest request, int64_t now_ns, std::optional<ReportedRequest> reported = std::nullopt);
    /// Applies deadlines (grace, windows) and forgets what has settled.
    void tick(int64_t now_ns);
    /// Between these, additions are only recorded; end_batch correlates each pod they touched
    /// once (a webhook batch of 400 stages, a reload after a restart).
    void begin_batch() { batching_ = true; }
    void end_batch(int64_t now_ns);

    /// False when max_requests are held and none can be forgotten: refuse new ones (503).
    bool has_room() const { return requests_.size() < options_.max_requests || !forgettable_.empty(); }
    const ExecRequest* request(const std::string& id) const;
    /// What was last reported for a request: pending with no session before its first verdict.
    ReportedRequest reported(const std::string& request_id) const;
    bool tracks_session(const std::string& id) const { return sessions_.contains(id); }
    size_t requests_tracked() const { return requests_.size(); }
    size_t sessions_tracked() const { return sessions_.size(); }
    const Options& options() const { return options_; }
    const Stats& stats() const { return stats_; }

private:
    struct TrackedSession {
        SessionFacts facts;
        std::optional<ReportedSession> last;  ///< what was last reported (only changes are reported)
        bool active = true;                   ///< still in its pod's correlation
    };
    struct TrackedRequest {
        ExecRequest request;
        std::optional<ReportedRequest> last;
        bool active = true;
    };
    struct Group {
        std::set<std::string> sessions, requests;  ///< the active ones
        std::set<std::string> recent;              ///< named exec sessions, for admission reviews of the same exec
        int64_t next_ns = INT64_MAX;               ///< when a deadline of theirs passes
    };
    using GroupKey = std::string;
    struct Component;

    static GroupKey group_of(const std::string& ns, const std::string& pod);
    bool fits_exec(const SessionFacts& s, const ExecRequest& r, bool* prefix = nullptr) const;
    int64_t window_end(const ExecRequest& r) const;
    void correlate(const GroupKey& key, int64_t now_ns);
    void correlate_exec(Group& g, std::vector<TrackedSession*>& sessions, std::vector<TrackedRequest*>& requests,
                        int64_t now_ns, int64_t& next);
    void decide_component(const Component& c, int pool, int64_t now_ns, int64_t& next);
    void correlate_tty(std::vector<TrackedSession*>& sessions, std::vector<TrackedRequest*>& requests, int64_t now_ns,
                       int64_t& next);
    void report_session(TrackedSession& s, SessionVerdict v);
    void report_request(TrackedRequest& r, RequestState state, const std::string& session_id);
    void settle_request(TrackedRequest& r);
    void forget_early();

    Options options_;
    SessionSink on_session_;
    RequestSink on_request_;
    Stats stats_;
    std::map<std::string, TrackedSession> sessions_;
    std::map<std::string, TrackedRequest> requests_;
    std::map<GroupKey, Group> groups_;
    std::set<std::pair<int64_t, std::string>> forgettable_;  ///< settled requests by receive time
    std::unordered_set<std::string> forgotten_;               ///< keys forgotten early (bounded)
    int64_t last_retention_ns_ = 0;
    bool batching_ = false;
    std::set<GroupKey> touched_;  ///< while batching
};

}  // namespace execaudit::attribution
