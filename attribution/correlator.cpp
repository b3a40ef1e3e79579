#include "attribution/correlator.h"

#include <algorithm>
#include <climits>
#include <numeric>

namespace execaudit::attribution {
namespace {

constexpr int64_t kNever = INT64_MAX;
/// Sessions + requests of one component beyond which it is `ambiguous` without a search (an
/// adversary can make many twins; the search is polynomial, but not free).
constexpr size_t kMaxComponent = 256;

int64_t sat_add(int64_t a, int64_t b) { return a > kNever - b ? kNever : a + b; }

/// 0: audit, 1: admission from an authenticated sender, 2: admission nobody authenticated.
/// A session explained by an earlier pool is never offered to a later one: an unverified
/// identity never overrides an authenticated one.
int pool_of(const ExecRequest& r) { return r.source == RequestSource::audit ? 0 : r.verified ? 1 : 2; }

// Go's JSON encoder (the API server's audit backends) writes every byte that is not part of
// valid UTF-8 as U+FFFD, so a raw byte sent in a requestURI reaches us as U+FFFD while the
// kernel records the byte itself. This is the same mapping, for comparing.
std::string go_json_lossy(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
        auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
        unsigned char c = b(0);
        size_t n = 0;
        if (c < 0x80) n = 1;
        else if (c >= 0xC2 && c <= 0xDF && cont(1)) n = 2;
        else if (c == 0xE0 && cont(1) && b(1) >= 0xA0 && cont(2)) n = 3;
        else if (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && cont(1) && cont(2)) n = 3;
        else if (c == 0xED && cont(1) && b(1) < 0xA0 && cont(2)) n = 3;
        else if (c == 0xF0 && cont(1) && b(1) >= 0x90 && cont(2) && cont(3)) n = 4;
        else if (c >= 0xF1 && c <= 0xF3 && cont(1) && cont(2) && cont(3)) n = 4;
        else if (c == 0xF4 && cont(1) && b(1) < 0x90 && cont(2) && cont(3)) n = 4;
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

bool has_replacement(const std::string& s) { return s.find("\xEF\xBF\xBD") != std::string::npos; }

bool arg_equal(const std::string& recorded, const std::string& requested) {
    return recorded == requested || (has_replacement(requested) && go_json_lossy(recorded) == requested);
}

bool arg_prefix(const std::string& recorded, const std::string& requested) {
    return requested.starts_with(recorded) || (has_replacement(requested) && requested.starts_with(go_json_lossy(recorded)));
}

/// The recorded argv against the requested one. A truncated recording (whatever the kernel's
/// bound: fewer arguments, or arguments cut) matches when each argument it kept is a prefix.
bool argv_matches(const SessionFacts& s, const std::vector<std::string>& requested, bool& prefix) {
    prefix = false;
    if (s.start_lost && s.command.empty()) return true;  // unknown: it could be any request's
    if (!s.command_truncated) {
        if (s.command.size() != requested.size()) return false;
        for (size_t i = 0; i < requested.size(); ++i)
            if (!arg_equal(s.command[i], requested[i])) return false;
        return true;
    }
    if (s.command.empty() || s.command.size() > requested.size()) return false;
    for (size_t i = 0; i < s.command.size(); ++i)
        if (!arg_prefix(s.command[i], requested[i])) return false;
    prefix = true;
    return true;
}

bool container_matches(const std::string& session, const std::string& request) {
    // An empty request container is the pod's only one (the API server refuses it otherwise).
    return request.empty() || session.empty() || request == session;
}

}  // namespace

/// Sessions and requests of one pod connected by "fits", with the edges.
struct Correlator::Component {
    std::vector<TrackedSession*> sessions;
    std::vector<TrackedRequest*> requests;
    std::vector<std::vector<std::pair<size_t, bool>>> edges;  ///< per session: (request index, prefix matched)
};

Correlator::Correlator(Options options, SessionSink on_session, RequestSink on_request)
    : options_(options), on_session_(std::move(on_session)), on_request_(std::move(on_request)) {}

Correlator::GroupKey Correlator::group_of(const std::string& ns, const std::string& pod) {
    GroupKey key = std::to_string(ns.size()) + ':' + ns;
    key += pod;
    return key;
}

const ExecRequest* Correlator::request(const std::string& id) const {
    auto it = requests_.find(id);
    return it == requests_.end() ? nullptr : &it->second.request;
}

ReportedRequest Correlator::reported(const std::string& request_id) const {
    auto it = requests_.find(request_id);
    return it == requests_.end() || !it->second.last ? ReportedRequest{} : *it->second.last;
}

void Correlator::add_session(const SessionFacts& facts, int64_t now_ns, std::optional<ReportedSession> reported) {
    auto [it, inserted] = sessions_.try_emplace(facts.id);
    auto& s = it->second;
    s.facts = facts;
    if (reported) {
        std::sort(reported->candidates.begin(), reported->candidates.end());
        // A session reloaded with a name (or as the kubelet's) is settled: its request is not
        // reloaded with it, and it must not turn unattributed for lack of one.
        s.active = !(names_a_user(reported->attribution) || reported->attribution == SessionAttribution::kubelet);
        s.last = std::move(reported);
    }
    GroupKey g = group_of(facts.namespace_name, facts.pod);
    if (s.active) groups_[g].sessions.insert(facts.id);
    correlate(g, now_ns);
}

void Correlator::classify_session(const std::string& session_id, KubeletJudgement judgement) {
    auto it = sessions_.find(session_id);
    if (it != sessions_.end()) it->second.facts.kubelet = std::move(judgement);
}

void Correlator::end_session(const std::string& session_id, int64_t end_ns, int64_t now_ns) {
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return;
    it->second.facts.end_ns = end_ns;
    if (it->second.active) correlate(group_of(it->second.facts.namespace_name, it->second.facts.pod), now_ns);
}

std::string Correlator::add_audit_event(const AuditEvent& event, int64_t now_ns) {
    std::string key = request_key(event);
    auto it = requests_.find(key);
    if (it == requests_.end()) {
        if (forgotten_.contains(key)) {
            ++stats_.late_stages_ignored;
            return key;
        }
        add_request(ExecRequest::from(event), now_ns);
        return key;
    }
    it->second.request.merge(event);
    if (it->second.active) {
        const auto& t = it->second.request.target;
        correlate(group_of(t.namespace_name, t.pod), now_ns);
    }
    return key;
}

void Correlator::add_request(ExecRequest request, int64_t now_ns, std::optional<ReportedRequest> reported) {
    if (requests_.contains(request.id)) return;  // a duplicate delivery (webhook retry, log re-read after restart)
    if (requests_.size() >= options_.max_requests) forget_early();
    auto [it, inserted] = requests_.try_emplace(request.id);
    it->second.request = std::move(request);
    it->second.last = std::move(reported);
    const auto& t = it->second.request.target;
    GroupKey g = group_of(t.namespace_name, t.pod);
    groups_[g].requests.insert(it->first);
    correlate(g, now_ns);
}

bool Correlator::fits_exec(const SessionFacts& s, const ExecRequest& r, bool* prefix) const {
    if (!r.is_exec() || !container_matches(s.container, r.target.container)) return false;
    if (!s.start_lost && s.tty != r.target.tty) return false;
    bool p = false;
    if (!argv_matches(s, r.target.command, p)) return false;
    int64_t low = (r.decided() ? r.decided_ns() : r.received_ns) - options_.skew_ns;
    if (s.start_ns < low || s.start_ns > window_end(r)) return false;
    if (prefix) *prefix = p;
    return true;
}

int64_t Correlator::window_end(const ExecRequest& r) const {
    int64_t base = r.decided() ? r.decided_ns() : r.received_ns;
    int64_t upper = sat_add(base, options_.stream_setup_ns);
    if (r.completed_ns) upper = std::min(upper, *r.completed_ns);
    return sat_add(upper, options_.skew_ns);
}

void Correlator::end_batch(int64_t now_ns) {
    batching_ = false;
    auto touched = std::move(touched_);
    touched_.clear();
    for (const auto& key : touched) correlate(key, now_ns);
}

void Correlator::correlate(const GroupKey& key, int64_t now_ns) {
    if (batching_) {
        touched_.insert(key);
        return;
    }
    auto git = groups_.find(key);
    if (git == groups_.end()) return;
    Group& g = git->second;
    std::vector<TrackedSession*> exec_sessions, tty_sessions;
    std::vector<TrackedRequest*> exec_requests, tty_requests;
    for (auto id : std::vector<std::string>(g.sessions.begin(), g.sessions.end())) {
        auto& s = sessions_.at(id);
        switch (s.facts.entry) {
            case EntryKind::kubelet:
                report_session(s, SessionVerdict{.session_id = id, .attribution = SessionAttribution::kubelet, .entry = s.facts.entry});
                s.active = false;
                g.sessions.erase(id);
                break;
            case EntryKind::nsenter:  // no API request can enter this way: a finding at once
                report_session(s, SessionVerdict{.session_id = id, .attribution = SessionAttribution::unattributed, .entry = s.facts.entry});
                s.active = false;
                g.sessions.erase(id);
                break;
            case EntryKind::exec: exec_sessions.push_back(&s); break;
            default: tty_sessions.push_back(&s);
        }
    }
    for (auto id : std::vector<std::string>(g.requests.begin(), g.requests.end())) {
        auto& r = requests_.at(id);
        if (r.request.denied() || r.request.failed()) {
            report_request(r, r.request.denied() ? RequestState::denied : RequestState::failed, "");
            settle_request(r);
            continue;
        }
        (r.request.is_exec() ? exec_requests : tty_requests).push_back(&r);
    }
    int64_t next = kNever;
    correlate_exec(g, exec_sessions, exec_requests, now_ns, next);
    correlate_tty(tty_sessions, tty_requests, now_ns, next);
    for (auto* s : exec_sessions)
        if (!s->active) g.sessions.erase(s->facts.id);
    for (auto* s : tty_sessions)
        if (!s->active) g.sessions.erase(s->facts.id);
    g.next_ns = next;
    if (g.sessions.empty() && g.requests.empty() && g.recent.empty()) groups_.erase(git);
}

void Correlator::correlate_exec(Group& g, std::vector<TrackedSession*>& sessions, std::vector<TrackedRequest*>& requests,
                                int64_t now_ns, int64_t& next) {
    std::vector<TrackedSession*> unexplained = sessions;
    std::vector<TrackedSession*> explained;  // by an earlier pool (for admission reviews that duplicate an audit event)
    for (const auto& id : g.recent)
        if (auto it = sessions_.find(id); it != sessions_.end()) explained.push_back(&it->second);
    for (int pool = 0; pool < 3; ++pool) {
        std::vector<TrackedRequest*> rs;
        for (auto* r : requests)
            if (pool_of(r->request) == pool) rs.push_back(r);
        size_t ns = unexplained.size(), nr = rs.size();
        std::vector<size_t> parent(ns + nr);
        std::iota(parent.begin(), parent.end(), size_t{0});
        auto find = [&](size_t x) {
            while (parent[x] != x) x = parent[x] = parent[parent[x]];
            return x;
        };
        std::vector<std::vector<std::pair<size_t, bool>>> edges(ns);
        std::vector<bool> has_edge(ns + nr, false);
        for (size_t i = 0; i < ns; ++i)
            for (size_t k = 0; k < nr; ++k) {
                bool prefix = false;
                if (!fits_exec(unexplained[i]->facts, rs[k]->request, &prefix)) continue;
                edges[i].emplace_back(k, prefix);
                parent[find(i)] = find(ns + k);
                has_edge[i] = has_edge[ns + k] = true;
            }
        std::map<size_t, Component> components;
        std::vector<size_t> index_in_component(ns + nr);
        for (size_t x = 0; x < ns + nr; ++x) {
            if (!has_edge[x]) continue;
            auto& c = components[find(x)];
            if (x < ns) {
                index_in_component[x] = c.sessions.size();
                c.sessions.push_back(unexplained[x]);
            } else {
                index_in_component[x] = c.requests.size();
                c.requests.push_back(rs[x - ns]);
            }
        }
        for (auto& [root, c] : components) c.edges.resize(c.sessions.size());
        for (size_t i = 0; i < ns; ++i)
            for (auto [k, prefix] : edges[i])
                components[find(i)].edges[index_in_component[i]].emplace_back(index_in_component[ns + k], prefix);
        for (auto& [root, c] : components) decide_component(c, pool, now_ns, next);

        // Requests that fit no session still unexplained: a duplicate of an audit event (an
        // admission review of the same exec), or unrecorded once no session can come.
        for (size_t k = 0; k < nr; ++k) {
            if (has_edge[ns + k]) continue;
            TrackedRequest& r = *rs[k];
            bool blocked = false;
            const TrackedSession* twin = nullptr;
            for (auto* s : explained) {
                if (!fits_exec(s->facts, r.request)) continue;
                if (!s->last || s->last->attribution == SessionAttribution::pending) blocked = true;
                else if (names_a_user(s->last->attribution) && sessions_.contains(s->facts.id)) {
                    auto matched = requests_.find(s->last->request_id);
                    if (matched != requests_.end() && matched->second.request.identity.user == r.request.identity.user)
                        twin = s;
                }
            }
            int64_t deadline = std::max(window_end(r.request), sat_add(r.request.received_ns, options_.grace_ns));
            if (twin && !blocked) {
                report_request(r, RequestState::matched, twin->facts.id);
                settle_request(r);
            } else if (now_ns >= deadline && !blocked && (!options_.caught_up || options_.caught_up(r.request, deadline))) {
                report_request(r, RequestState::unrecorded, "");
                settle_request(r);
            } else if (now_ns >= deadline && !blocked) {
                report_request(r, RequestState::pending, "");  // the node that hosts its pod is behind
                next = std::min(next, sat_add(now_ns, 1'000'000'000));
            } else {
                report_request(r, RequestState::pending, "");
                next = std::min(next, blocked ? sat_add(now_ns, 1'000'000'000) : deadline);
            }
        }
        std::vector<TrackedSession*> left;
        for (size_t i = 0; i < ns; ++i) (has_edge[i] ? explained : left).push_back(unexplained[i]);
        unexplained = std::move(left);
    }
    // Named sessions stay where an admission review of the same exec can still find them.
    for (auto* s : explained)
        if (!s->active && s->last && names_a_user(s->last->attribution)) g.recent.insert(s->facts.id);

    for (auto* s : unexplained) {
        int64_t deadline = sat_add(s->facts.start_ns, options_.grace_ns);
        if (now_ns >= deadline && s->facts.kubelet && s->facts.kubelet->kubelet && !s->facts.tty) {
            // no API request, and the kubelet's own probe or hook in every detail: not a finding
            // (never on a tty, whatever a node says: the kubelet runs its execs without one)
            report_session(*s, SessionVerdict{.session_id = s->facts.id, .attribution = SessionAttribution::kubelet,
                                              .entered_via = s->facts.kubelet->entered_via,
                                              .reason = s->facts.kubelet->name});
        } else if (now_ns >= deadline) {
            report_session(*s, SessionVerdict{.session_id = s->facts.id, .attribution = SessionAttribution::unattributed,
                                              .reason = s->facts.kubelet ? s->facts.kubelet->reason : std::string()});
        } else {
            report_session(*s, SessionVerdict{.session_id = s->facts.id});
            next = std::min(next, deadline);
        }
    }
}

void Correlator::decide_component(const Component& c, int pool, int64_t now_ns, int64_t& next) {
    int64_t settle_at = 0;
    bool any_undecided = false;
    for (auto* s : c.sessions) settle_at = std::max(settle_at, sat_add(s->facts.start_ns, options_.grace_ns));
    for (auto* r : c.requests) {
        settle_at = std::max(settle_at, window_end(r->request));
        if (!r->request.decided()) {
            any_undecided = true;
            settle_at = std::max(settle_at, sat_add(r->request.received_ns, options_.grace_ns));
        }
    }
    if (now_ns < settle_at) {
        for (auto* s : c.sessions) report_session(*s, SessionVerdict{.session_id = s->facts.id});
        for (auto* r : c.requests) report_request(*r, RequestState::pending, "");
        next = std::min(next, settle_at);
        return;
    }

    // A pairing that covers every session; then whether it is the only one.
    size_t n = c.sessions.size();
    std::vector<int> match_of_request(c.requests.size(), -1), match_of_session(n, -1);
    bool searched = n + c.requests.size() <= kMaxComponent;
    std::vector<char> seen;
    std::pair<size_t, size_t> forbidden{SIZE_MAX, SIZE_MAX};
    std::function<bool(size_t)> augment = [&](size_t s) -> bool {
        for (auto [k, prefix] : c.edges[s]) {
            if (seen[k] || (s == forbidden.first && k == forbidden.second)) continue;
            seen[k] = 1;
            if (match_of_request[k] < 0 || augment(static_cast<size_t>(match_of_request[k]))) {
                match_of_request[k] = static_cast<int>(s);
                match_of_session[s] = static_cast<int>(k);
                return true;
            }
        }
        return false;
    };
    size_t matched = 0;
    if (searched)
        for (size_t s = 0; s < n; ++s) {
            seen.assign(c.requests.size(), 0);
            if (augment(s)) ++matched;
        }
    bool unique = searched && matched == n && !any_undecided;
    for (size_t s = 0; unique && s < n; ++s) {
        auto saved_r = match_of_request;
        auto saved_s = match_of_session;
        size_t k = static_cast<size_t>(match_of_session[s]);
        match_of_request[k] = -1;
        match_of_session[s] = -1;
        forbidden = {s, k};
        seen.assign(c.requests.size(), 0);
        if (augment(s)) unique = false;  // another pairing covers every session too
        forbidden = {SIZE_MAX, SIZE_MAX};
        match_of_request = std::move(saved_r);
        match_of_session = std::move(saved_s);
    }

    if (unique) {
        for (size_t s = 0; s < n; ++s) {
            size_t k = static_cast<size_t>(match_of_session[s]);
            bool prefix = false;
            for (auto [kk, p] : c.edges[s])
                if (kk == k) prefix = p;
            TrackedSession& ts = *c.sessions[s];
            TrackedRequest& tr = *c.requests[k];
            report_session(ts, SessionVerdict{.session_id = ts.facts.id,
                                              .attribution = pool == 0 ? SessionAttribution::audit : SessionAttribution::admission,
                                              .request = &tr.request,
                                              .prefix_matched = prefix});
            report_request(tr, RequestState::matched, ts.facts.id);
            ts.active = false;
            settle_request(tr);
        }
        for (size_t k = 0; k < c.requests.size(); ++k)
            if (match_of_request[k] < 0) {
                TrackedRequest& r = *c.requests[k];
                int64_t deadline = std::max(window_end(r.request), sat_add(r.request.received_ns, options_.grace_ns));
                if (options_.caught_up && !options_.caught_up(r.request, deadline)) {
                    report_request(r, RequestState::pending, "");  // its node may still upload a session
                    next = std::min(next, sat_add(now_ns, 1'000'000'000));
                    continue;
                }
                report_request(r, RequestState::unrecorded, "");
                settle_request(r);
            }
        return;
    }
    size_t surplus = n > matched && searched ? n - matched : 0;
    for (size_t s = 0; s < n; ++s) {
        SessionVerdict v{.session_id = c.sessions[s]->facts.id, .attribution = SessionAttribution::ambiguous,
                         .surplus_sessions = surplus};
        for (auto [k, prefix] : c.edges[s]) v.candidates.push_back(&c.requests[k]->request);
        report_session(*c.sessions[s], std::move(v));
    }
    for (auto* r : c.requests) report_request(*r, RequestState::ambiguous, "");
}

void Correlator::correlate_tty(std::vector<TrackedSession*>& sessions, std::vector<TrackedRequest*>& requests,
                               int64_t now_ns, int64_t& next) {
    const int64_t skew = options_.skew_ns;
    auto fits = [&](const SessionFacts& s, const ExecRequest& r) {
        if (!container_matches(s.container, r.target.container)) return false;
        int64_t at = r.decided() ? r.decided_ns() : r.received_ns;
        if (r.is_attach())  // the user attaches at any time while it runs
            return at >= s.start_ns - skew && (!s.end_ns || at <= sat_add(*s.end_ns, skew));
        // an ephemeral container starts after the request that created it (its image may be pulled)
        return s.start_ns >= at - skew && s.start_ns <= sat_add(at, options_.debug_start_ns + skew);
    };
    std::map<TrackedRequest*, std::vector<TrackedSession*>> users_of;
    for (auto* s : sessions) {
        std::vector<TrackedRequest*> cands;
        for (auto* r : requests)
            if (fits(s->facts, r->request)) {
                cands.push_back(r);
                users_of[r].push_back(s);
            }
        if (cands.empty()) {
            int64_t deadline = sat_add(s->facts.start_ns, options_.grace_ns);
            SessionVerdict v{.session_id = s->facts.id, .attribution = SessionAttribution::pending, .entry = EntryKind::tty_init};
            if (now_ns >= deadline) v.attribution = SessionAttribution::workload;
            else next = std::min(next, deadline);
            report_session(*s, std::move(v));
            continue;
        }
        int64_t settle_at = s->facts.end_ns ? sat_add(*s->facts.end_ns, skew + options_.grace_ns) : kNever;
        bool undecided = false;
        std::set<std::string> people;
        const ExecRequest* chosen = nullptr;
        bool debug = false;
        for (auto* r : cands) {
            const auto& q = r->request;
            if (!q.decided()) {
                undecided = true;
                settle_at = std::max(settle_at, sat_add(q.received_ns, options_.grace_ns));
            }
            people.insert(q.identity.user);
            debug = debug || q.is_ephemeral();
            // The creator of an ephemeral container first, audit before admission.
            auto rank = [](const ExecRequest& x) { return (x.is_ephemeral() ? 0 : 2) + (x.source == RequestSource::audit ? 0 : 1); };
            if (!chosen || rank(q) < rank(*chosen)) chosen = &q;
        }
        if (now_ns < settle_at) {  // more people may still attach, or a request is undecided
            report_session(*s, SessionVerdict{.session_id = s->facts.id, .entry = EntryKind::tty_init});
            if (settle_at != kNever) next = std::min(next, settle_at);
            continue;
        }
        if (people.size() == 1 && !undecided) {
            report_session(*s, SessionVerdict{.session_id = s->facts.id,
                                              .attribution = chosen->source == RequestSource::audit ? SessionAttribution::audit
                                                                                                    : SessionAttribution::admission,
                                              .request = chosen,
                                              .entry = debug ? EntryKind::debug : EntryKind::attach});
        } else {
            SessionVerdict v{.session_id = s->facts.id, .attribution = SessionAttribution::ambiguous, .entry = EntryKind::tty_init};
            for (auto* r : cands) v.candidates.push_back(&r->request);
            report_session(*s, std::move(v));
        }
        s->active = false;
    }
    for (auto* r : requests) {
        auto it = users_of.find(r);
        if (it == users_of.end()) {
            const auto& q = r->request;
            int64_t at = q.decided() ? q.decided_ns() : q.received_ns;
            int64_t deadline = sat_add(at, (q.is_ephemeral() ? options_.debug_start_ns + skew : 0) + options_.grace_ns);
            if (now_ns >= deadline) {
                report_request(*r, RequestState::observed, "");
                settle_request(*r);
            } else {
                report_request(*r, RequestState::pending, "");
                next = std::min(next, deadline);
            }
            continue;
        }
        const auto& ss = it->second;
        bool all_settled = std::all_of(ss.begin(), ss.end(), [](auto* s) { return !s->active; });
        if (!all_settled) {
            report_request(*r, RequestState::pending, "");
            continue;
        }
        bool named = ss.size() == 1 && ss[0]->last && names_a_user(ss[0]->last->attribution);
        report_request(*r, named ? RequestState::matched : RequestState::ambiguous, named ? ss[0]->facts.id : "");
        settle_request(*r);
    }
}

void Correlator::report_session(TrackedSession& s, SessionVerdict v) {
    ReportedSession now{v.attribution, v.request ? v.request->id : "", {}};
    for (const auto* c : v.candidates) now.candidates.push_back(c->id);
    std::sort(now.candidates.begin(), now.candidates.end());
    if (s.last && s.last->attribution == now.attribution && s.last->request_id == now.request_id &&
        s.last->candidates == now.candidates)
        return;
    bool first_report = !s.last;
    s.last = std::move(now);
    if (first_report && v.attribution == SessionAttribution::pending) return;  // sessions start out pending
    if (v.entry == EntryKind::exec) v.entry = s.facts.entry;
    on_session_(v);
}

void Correlator::report_request(TrackedRequest& r, RequestState state, const std::string& session_id) {
    if (r.last && r.last->state == state && r.last->session_id == session_id) return;
    r.last = ReportedRequest{state, session_id};
    on_request_(RequestVerdict{&r.request, state, session_id});
}

void Correlator::settle_request(TrackedRequest& r) {
    if (!r.active) return;
    r.active = false;
    const auto& t = r.request.target;
    if (auto g = groups_.find(group_of(t.namespace_name, t.pod)); g != groups_.end()) g->second.requests.erase(r.request.id);
    forgettable_.emplace(r.request.received_ns, r.request.id);
}

void Correlator::forget_early() {
    // The oldest settled requests go first; their keys are kept (smaller) so that a late stage
    // of one is not taken for a new request.
    while (requests_.size() >= options_.max_requests && !forgettable_.empty()) {
        auto it = forgettable_.begin();
        if (forgotten_.size() >= 4 * options_.max_requests) forgotten_.clear();
        forgotten_.insert(it->second);
        requests_.erase(it->second);
        forgettable_.erase(it);
        ++stats_.requests_forgotten_early;
    }
}

void Correlator::tick(int64_t now_ns) {
    std::vector<GroupKey> due;
    for (const auto& [key, g] : groups_)
        if (g.next_ns <= now_ns) due.push_back(key);
    for (const auto& key : due) correlate(key, now_ns);

    if (now_ns - last_retention_ns_ < 10'000'000'000) return;
    last_retention_ns_ = now_ns;
    int64_t horizon = now_ns - options_.retention_ns;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
        const auto& s = it->second;
        bool old = s.facts.end_ns ? *s.facts.end_ns < horizon : false;
        if (old && (!s.active || (s.last && s.last->attribution != SessionAttribution::pending))) {
            GroupKey g = group_of(s.facts.namespace_name, s.facts.pod);
            if (auto git = groups_.find(g); git != groups_.end()) {
                git->second.sessions.erase(it->first);
                git->second.recent.erase(it->first);
                if (git->second.sessions.empty() && git->second.requests.empty() && git->second.recent.empty()) groups_.erase(git);
            }
            it = sessions_.erase(it);
        } else {
            ++it;
        }
    }
    // Requests still in play that old (ambiguous, or undecided for an hour) are settled as they are.
    for (auto& [id, r] : requests_)
        if (r.active && r.request.received_ns < horizon && r.last && r.last->state != RequestState::pending) settle_request(r);
    while (!forgettable_.empty() && forgettable_.begin()->first < horizon) {
        requests_.erase(forgettable_.begin()->second);
        forgettable_.erase(forgettable_.begin());
    }
}

}  // namespace execaudit::attribution
