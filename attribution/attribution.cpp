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

SessionFacts facts_of(const storage::SessionRecord& s) {
    return SessionFacts{s.id, s.namespace_name, s.pod, s.container, s.command, s.tty, s.start_ns, s.end_ns};
}

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
    r.source = q.source;
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
    q.source = r.source;
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
    q.completed_ns = r.completed_ns;
    return q;
}

Attribution::Attribution(boost::asio::io_context& io, Correlator::Options options, storage::StoreWriter& writer)
    : io_(io),
      writer_(writer),
      correlator_(
          options, [this](const SessionVerdict& v) { on_session_verdict(v); },
          [this](const RequestVerdict& v) { on_request_verdict(v); }) {}

void Attribution::reload(storage::Database& db, int64_t now_ns) {
    storage::RequestStore store(db);
    int64_t horizon = now_ns - correlator_.options().retention_ns;
    // Only what may still change: a matched request stays matched (its session is settled and
    // not reloaded; reloading the request alone would wrongly make it pending again). Each comes
    // back with its stored verdict: only what changes from here is reported, logged and counted.
    auto requests = store.list(storage::RequestFilter{.states = {"pending", "unrecorded", "ambiguous"}, .since_ns = horizon});
    for (const auto& r : requests)
        correlator_.add_request(from_record(r), now_ns,
                                ReportedRequest{request_state_from(r.state).value_or(RequestState::pending),
                                                r.session_id.value_or("")});
    auto sessions = store.unsettled_sessions(horizon);
    for (const auto& s : sessions) {
        ReportedSession reported{s.attribution, s.audit_id, {}};
        if (s.attribution == "ambiguous")
            for (const auto& c : store.requests_of_session(s.id)) reported.candidates.push_back(c.id);
        places_[s.id] = SessionPlace{s.namespace_name, s.pod, s.container, s.entered_via};
        correlator_.add_session(facts_of(s), now_ns, std::move(reported));
    }
    store_changed_requests();
    if (!requests.empty() || !sessions.empty())
        log::info("attribution: reloaded {} recent requests and {} unsettled sessions", requests.size(), sessions.size());
}

void Attribution::session_started(const storage::SessionRecord& s) {
    places_[s.id] = SessionPlace{s.namespace_name, s.pod, s.container, s.entered_via};
    correlator_.add_session(facts_of(s), wall_clock_ns());
    store_changed_requests();
}

void Attribution::session_ended(const storage::SessionRecord& s) {
    if (s.end_ns) correlator_.end_session(s.id, *s.end_ns, wall_clock_ns());
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
    int64_t now = wall_clock_ns();
    for (const auto& e : events)
        stages.stages.push_back(storage::AuditStageRecord{e.audit_id, e.stage, source, e.received_ns, e.stage_ns, now, e.raw_json});
    stages.cursor = std::move(cursor);
    stats_.stages += events.size();
    writer_.submit(std::move(stages));
    for (const auto& e : events) {
        correlator_.add_audit_event(e, now);
        changed_requests_.insert(e.audit_id);  // a new stage is news even when the verdict stays
    }
    store_changed_requests();
    if (on_stored) {
        writer_.submit(storage::WriteBarrier{[this, done = std::move(on_stored)]() mutable {
            boost::asio::post(io_, std::move(done));
        }});
    }
}

void Attribution::admit(ExecRequest request, std::string raw) {
    int64_t now = wall_clock_ns();
    ++stats_.admission_reviews;
    storage::WriteAuditStages stages;
    stages.stages.push_back(storage::AuditStageRecord{request.id, "AdmissionReview", "admission", request.received_ns,
                                                      request.received_ns, now, std::move(raw)});
    writer_.submit(std::move(stages));
    changed_requests_.insert(request.id);
    correlator_.add_request(std::move(request), now);
    store_changed_requests();
}

void Attribution::tick() {
    correlator_.tick(wall_clock_ns());
    store_changed_requests();
    std::erase_if(places_, [&](const auto& p) { return !correlator_.tracks_session(p.first); });
}

void Attribution::on_session_verdict(const SessionVerdict& v) {
    storage::WriteAttribution w;
    w.session_id = v.session_id;
    w.attribution = v.attribution;
    if (v.request) {
        w.request_id = v.request->id;
        w.requester = to_requester(v.request->identity);
    }
    for (const auto* c : v.candidates) w.candidates.push_back(c->id);
    writer_.submit(std::move(w));

    auto s = places_.find(v.session_id);
    std::string where = s == places_.end() ? v.session_id
                                           : fmt::format("{} ({}/{} container {})", v.session_id, terminal_safe(s->second.namespace_name),
                                                         terminal_safe(s->second.pod), terminal_safe(s->second.container));
    if (v.attribution == "unattributed") {
        ++stats_.unattributed;
        log::warn("FINDING: session {} has no Kubernetes API request: someone entered the container from the node "
                  "(crictl, ctr, nsenter, the kubelet API), around the API server; it was entered via '{}'",
                  where, s == places_.end() ? "?" : terminal_safe(s->second.entered_via));
    } else if (v.attribution == "ambiguous") {
        ++stats_.ambiguous;
        log::warn("session {} fits {} API requests equally; all are kept as candidates", where, v.candidates.size());
    } else if (v.request) {
        ++stats_.attributed;
        log::info("session {} was requested by {} ({} {})", where, terminal_safe(v.request->identity.user), v.attribution,
                  v.request->id);
    }
}

void Attribution::on_request_verdict(const RequestVerdict& v) {
    changed_requests_.insert(v.request->id);
    if (v.state == RequestState::unrecorded) {
        ++stats_.unrecorded;
        log::warn("exec {} by {} into {}/{} was allowed but no session was recorded here", v.request->id,
                  terminal_safe(v.request->identity.user), terminal_safe(v.request->target.namespace_name),
                  terminal_safe(v.request->target.pod));
    } else if (v.state == RequestState::denied) {
        ++stats_.denied;
        log::info("exec attempt {} by {} into {}/{} was denied", v.request->id, terminal_safe(v.request->identity.user),
                  terminal_safe(v.request->target.namespace_name), terminal_safe(v.request->target.pod));
    }
}

}  // namespace execaudit::attribution
