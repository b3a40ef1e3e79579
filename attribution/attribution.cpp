#include "attribution/attribution.h"

#include "common/log.h"
#include "common/text.h"
#include "common/time_format.h"
#include "storage/request_store.h"
#include "storage/session_proto.h"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

namespace execaudit::attribution {
namespace {

std::string json_array(const std::vector<std::string>& values) {
    auto arr = nlohmann::json::array();
    for (const auto& v : values) arr.push_back(utf8_lossy(v));
    return arr.dump();
}

std::optional<KubeletJudgement> judgement_of(const storage::SessionRecord& s) {
    if (!s.kubelet) return std::nullopt;
    return KubeletJudgement{.kubelet = s.kubelet->kubelet, .entered_via = s.kubelet->entered_via, .name = s.kubelet->name,
                            .reason = s.kubelet->reason};
}

SessionFacts facts_of(const storage::SessionRecord& s) {
    return SessionFacts{.id = s.id,
                        .namespace_name = s.namespace_name,
                        .pod = s.pod,
                        .container = s.container,
                        .command = s.command,
                        .command_truncated = s.command_truncated,
                        .tty = s.tty,
                        .start_ns = s.start_ns,
                        .end_ns = s.end_ns,
                        .entry = entry_kind_of(s.entered_via),
                        .start_lost = s.start_lost,
                        .kubelet = judgement_of(s)};
}

/// An event dated this far ahead of the node's clock is not correlated: a broken (or forged)
/// clock would keep it waiting, and in memory, for as long as it says.
constexpr int64_t kFutureTolerance = 300'000'000'000;

}  // namespace

storage::RequesterRecord to_requester(const RequestIdentity& id) {
    storage::RequesterRecord r;
    r.user = id.user;
    r.user_uid = id.uid;
    r.groups_json = json_array(id.groups);
    r.user_extra_json = id.extra_json;
    r.impersonated_user = id.impersonated_user;
    r.impersonated_groups_json = json_array(id.impersonated_groups);
    r.source_ips_json = json_array(id.source_ips);
    r.user_agent = id.user_agent;
    r.authz_decision = id.decision;
    r.authz_reason = id.reason;
    return r;
}

storage::ExecRequestRecord to_record(const ExecRequest& q, RequestState state, const std::string& session_id) {
    storage::ExecRequestRecord r;
    r.id = q.id;
    r.audit_id = q.audit_id;
    r.source = to_string(q.source);
    r.verified = q.verified;
    r.kind = q.target.kind;
    r.verb = q.verb;
    r.namespace_name = q.target.namespace_name;
    r.pod = q.target.pod;
    r.container = q.target.container;
    r.command = q.target.command;
    r.tty = q.target.tty;
    r.stdin = q.target.stdin;
    r.requester = to_requester(q.identity);
    r.response_code = q.response_code;
    r.response_message = q.response_message;
    r.received_ns = q.received_ns;
    r.started_ns = q.started_ns;
    r.completed_ns = q.completed_ns;
    r.state = to_string(state);
    if (!session_id.empty()) r.session_id = session_id;
    r.updated_ns = wall_clock_ns();
    return r;
}

ExecRequest from_record(const storage::ExecRequestRecord& r) {
    ExecRequest q;
    q.id = r.id;
    q.audit_id = r.audit_id.empty() ? r.id : r.audit_id;
    q.source = r.source == "admission" ? RequestSource::admission : RequestSource::audit;
    q.verified = r.verified;
    q.verb = r.verb;
    q.target = ExecTarget{r.kind, r.namespace_name, r.pod, r.container, r.command, r.tty, r.stdin};
    auto& id = q.identity;
    id.user = r.requester.user;
    id.uid = r.requester.user_uid;
    id.groups = storage::json_string_array(r.requester.groups_json);
    id.extra_json = r.requester.user_extra_json;
    id.impersonated_user = r.requester.impersonated_user;
    id.impersonated_groups = storage::json_string_array(r.requester.impersonated_groups_json);
    id.source_ips = storage::json_string_array(r.requester.source_ips_json);
    id.user_agent = r.requester.user_agent;
    id.decision = r.requester.authz_decision;
    id.reason = r.requester.authz_reason;
    q.response_code = r.response_code;
    q.response_message = r.response_message;
    q.received_ns = r.received_ns;
    q.started_ns = r.started_ns;
    if (r.started_ns) q.started_code = 101;  // stored once the stream was opened
    q.completed_ns = r.completed_ns;
    return q;
}

Attribution::Attribution(boost::asio::io_context& io, Correlator::Options options, storage::WriteSink& writer,
                         std::function<int64_t()> clock)
    : io_(io),
      writer_(writer),
      clock_(std::move(clock)),
      correlator_(
          options, [this](const SessionVerdict& v) { on_session_verdict(v); },
          [this](const RequestVerdict& v) { on_request_verdict(v); }) {}

void Attribution::reload(storage::Database& db, int64_t now_ns) {
    storage::RequestStore store(db);
    int64_t horizon = now_ns - correlator_.options().retention_ns;
    // Only what may still change: a matched request stays matched (its session is settled and
    // not reloaded; reloading the request alone would wrongly make it pending again). Each comes
    // back with its stored verdict: only what changes from here is reported, logged and counted.
    // Bounded: a flood of requests before a restart must not hold up the start of recording.
    auto requests = store.list(storage::RequestFilter{.states = {"pending", "ambiguous"},
                                                      .since_ns = horizon,
                                                      .limit = correlator_.options().max_requests / 2});
    auto sessions = store.unsettled_sessions(horizon);
    reload(requests, sessions, [&](const std::string& id) {
        std::vector<std::string> out;
        for (const auto& c : store.requests_of_session(id)) out.push_back(c.id);
        return out;
    }, now_ns);
}

void Attribution::reload(const std::vector<storage::ExecRequestRecord>& requests, const std::vector<storage::SessionRecord>& sessions,
                         const std::function<std::vector<std::string>(const std::string&)>& candidates_of, int64_t now_ns) {
    correlator_.begin_batch();
    for (const auto& r : requests)
        correlator_.add_request(from_record(r), now_ns,
                                ReportedRequest{request_state_from(r.state).value_or(RequestState::pending),
                                                r.session_id.value_or("")});
    for (const auto& s : sessions) {
        ReportedSession reported{session_attribution_from(s.attribution).value_or(SessionAttribution::pending),
                                 s.request_id.empty() ? s.audit_id : s.request_id, {}};
        if (s.attribution == "ambiguous") reported.candidates = candidates_of(s.id);
        places_[s.id] = SessionPlace{s.namespace_name, s.pod, s.container, s.entered_via};
        correlator_.add_session(facts_of(s), now_ns, std::move(reported));
    }
    correlator_.end_batch(now_ns);
    store_changed_requests();
    if (!requests.empty() || !sessions.empty())
        log::info("attribution: reloaded {} recent requests and {} unsettled sessions", requests.size(), sessions.size());
}

void Attribution::session_started(const storage::SessionRecord& s) {
    places_[s.id] = SessionPlace{s.namespace_name, s.pod, s.container, s.entered_via};
    correlator_.add_session(facts_of(s), clock_());
    store_changed_requests();
    intake_.room = correlator_.has_room();
}

void Attribution::session_ended(const storage::SessionRecord& s) {
    if (auto j = judgement_of(s)) correlator_.classify_session(s.id, std::move(*j));
    if (s.end_ns) correlator_.end_session(s.id, *s.end_ns, clock_());
    store_changed_requests();
}

void Attribution::store_changed_requests() {
    for (const auto& id : changed_requests_) {
        const ExecRequest* request = correlator_.request(id);
        if (!request) continue;
        ReportedRequest reported = correlator_.reported(id);
        writer_.submit(storage::WriteExecRequest{to_record(*request, reported.state, reported.session_id)});
    }
    changed_requests_.clear();
}

void Attribution::ingest(std::vector<AuditEvent> events, const std::string& source,
                         std::optional<storage::LogCursorRecord> cursor, std::function<void()> on_stored) {
    storage::WriteAuditStages stages;
    int64_t now = clock_();
    for (const auto& e : events)
        stages.stages.push_back(
            storage::AuditStageRecord{request_key(e), e.audit_id, e.stage, source, e.received_ns, e.stage_ns, now, e.raw_json});
    stages.cursor = std::move(cursor);
    stats_.stages += events.size();
    writer_.submit(std::move(stages));
    correlator_.begin_batch();
    for (const auto& e : events) {
        if (auto in_range = check_event_times(e, now, kFutureTolerance); !in_range) {
            if (stats_.stages_out_of_range++ < 10) log::warn("audit {}: stored, not correlated: {}", source, in_range.error());
            continue;
        }
        changed_requests_.insert(correlator_.add_audit_event(e, now));  // a new stage is news even when the verdict stays
    }
    correlator_.end_batch(now);
    store_changed_requests();
    intake_.room = correlator_.has_room();
    if (on_stored) {
        writer_.submit(storage::WriteBarrier{[this, done = std::move(on_stored)]() mutable {
            boost::asio::post(io_, std::move(done));
        }});
    }
}

void Attribution::admit(ExecRequest request, std::string raw) {
    int64_t now = clock_();
    ++stats_.admission_reviews;
    if (!request.verified) ++stats_.unverified_reviews;
    request.id = request_key(request);
    storage::WriteAuditStages stages;
    stages.stages.push_back(storage::AuditStageRecord{request.id, request.audit_id, "AdmissionReview",
                                                      request.verified ? "admission" : "admission-unverified",
                                                      request.received_ns, request.received_ns, now, std::move(raw)});
    writer_.submit(std::move(stages));
    changed_requests_.insert(request.id);
    correlator_.add_request(std::move(request), now);
    store_changed_requests();
    intake_.room = correlator_.has_room();
}

void Attribution::tick() {
    correlator_.tick(clock_());
    store_changed_requests();
    intake_.room = correlator_.has_room();
    std::erase_if(places_, [&](const auto& p) { return !correlator_.tracks_session(p.first); });
}

void Attribution::on_session_verdict(const SessionVerdict& v) {
    storage::WriteAttribution w;
    w.session_id = v.session_id;
    w.attribution = to_string(v.attribution);
    if (v.request) {
        w.request_id = v.request->id;
        w.audit_id = v.request->audit_id;
        w.requester = to_requester(v.request->identity);
        w.verified = v.request->verified;
        w.prefix_matched = v.prefix_matched;
    }
    if (v.entry == EntryKind::attach || v.entry == EntryKind::debug) w.entered_via = to_string(v.entry);
    if (v.attribution == SessionAttribution::kubelet && !v.entered_via.empty()) w.entered_via = v.entered_via;
    for (const auto* c : v.candidates) w.candidates.push_back(c->id);
    writer_.submit(std::move(w));

    // Logged lines escape what came from outside (common/log.h does, for the whole line).
    auto s = places_.find(v.session_id);
    std::string where = s == places_.end() ? v.session_id
                                           : fmt::format("{} ({}/{} container {})", v.session_id, s->second.namespace_name,
                                                         s->second.pod, s->second.container);
    std::string via = s == places_.end() ? "?" : s->second.entered_via;
    if (v.attribution == SessionAttribution::unattributed) {
        ++stats_.unattributed;
        if (v.entry == EntryKind::nsenter)
            log::warn("FINDING: session {} joined a container's namespaces from outside the pod (nsenter/setns): no Kubernetes "
                      "API request can enter this way",
                      where);
        else
            log::warn("FINDING: session {} has no Kubernetes API request: someone entered the container from the node "
                      "(crictl, ctr, nsenter, the kubelet API), around the API server; it was entered via '{}'{}",
                      where, via, v.reason.empty() ? std::string() : "; not the kubelet's: " + v.reason);
    } else if (v.attribution == SessionAttribution::kubelet) {
        ++stats_.kubelet;
        log::debug("session {}: the kubelet's {} {}", where, v.reason, v.entered_via);
    } else if (v.attribution == SessionAttribution::ambiguous) {
        ++stats_.ambiguous;
        std::string who;
        for (const auto* c : v.candidates) who += fmt::format("{}{} ({})", who.empty() ? "" : ", ", c->identity.user, c->id);
        if (v.surplus_sessions > 0)
            log::warn("FINDING: session {} is one of several sessions that fit fewer API requests: at least {} of them "
                      "entered around the API server; kept ambiguous, candidates: {}",
                      where, v.surplus_sessions, who.empty() ? "none" : who);
        else
            log::warn("session {} is ambiguous: it fits {} that cannot be told apart from rival sessions; all are kept: {}",
                      where, v.candidates.size() == 1 ? "1 API request" : fmt::format("{} API requests", v.candidates.size()), who);
    } else if (v.attribution == SessionAttribution::workload) {
        log::info("session {} is the container's own process on its terminal (no attach or debug request)", where);
    } else if (v.request) {
        ++stats_.attributed;
        log::info("session {} was requested by {}{} ({} {}{}{})", where, v.request->identity.user,
                  v.request->verified ? "" : " (UNVERIFIED: from a listener that cannot authenticate its sender)",
                  to_string(v.attribution), v.request->id, v.entry == EntryKind::exec ? "" : fmt::format(", via {}", to_string(v.entry)),
                  v.prefix_matched ? ", argv matched as a prefix of the request's" : "");
    }
}

void Attribution::on_request_verdict(const RequestVerdict& v) {
    changed_requests_.insert(v.request->id);
    if (v.state == RequestState::unrecorded) {
        ++stats_.unrecorded;
        log::warn("exec {} by {} into {}/{} was allowed but no session was recorded here", v.request->id,
                  v.request->identity.user, v.request->target.namespace_name, v.request->target.pod);
    } else if (v.state == RequestState::denied) {
        ++stats_.denied;
        log::info("exec attempt {} by {} into {}/{} was denied", v.request->id, v.request->identity.user,
                  v.request->target.namespace_name, v.request->target.pod);
    }
}

}  // namespace execaudit::attribution
