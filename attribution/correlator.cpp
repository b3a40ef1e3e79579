#include "attribution/correlator.h"

#include <algorithm>
#include <numeric>
#include <set>

namespace execaudit::attribution {

Correlator::Correlator(Options options, SessionSink on_session, RequestSink on_request)
    : options_(options), on_session_(std::move(on_session)), on_request_(std::move(on_request)) {}

Correlator::GroupKey Correlator::group_of(const std::string& ns, const std::string& pod,
                                          const std::vector<std::string>& argv, bool tty) {
    GroupKey key = ns + '\0' + pod + '\0' + (tty ? 't' : 'n');
    for (const auto& a : argv) {
        key += '\0';
        key += a;
    }
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
    it->second.facts = facts;
    if (reported) {
        std::sort(reported->candidates.begin(), reported->candidates.end());
        it->second.last = std::move(reported);
    }
    GroupKey g = group_of(facts.namespace_name, facts.pod, facts.command, facts.tty);
    if (inserted) session_groups_.emplace(g, facts.id);
    correlate(g, now_ns);
}

void Correlator::end_session(const std::string& session_id, int64_t end_ns, int64_t now_ns) {
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return;
    it->second.facts.end_ns = end_ns;
    const auto& f = it->second.facts;
    correlate(group_of(f.namespace_name, f.pod, f.command, f.tty), now_ns);
}

void Correlator::add_audit_event(const AuditEvent& event, int64_t now_ns) {
    auto it = requests_.find(event.audit_id);
    if (it == requests_.end()) {
        add_request(ExecRequest::from(event), now_ns);
        return;
    }
    it->second.request.merge(event);
    const auto& t = it->second.request.target;
    correlate(group_of(t.namespace_name, t.pod, t.command, t.tty), now_ns);
}

void Correlator::add_request(ExecRequest request, int64_t now_ns, std::optional<ReportedRequest> reported) {
    auto [it, inserted] = requests_.try_emplace(request.id);
    if (!inserted) return;  // a duplicate delivery (webhook retry, log re-read after restart)
    it->second.request = std::move(request);
    it->second.last = std::move(reported);
    const auto& t = it->second.request.target;
    GroupKey g = group_of(t.namespace_name, t.pod, t.command, t.tty);
    request_groups_.emplace(g, it->first);
    correlate(g, now_ns);
}

bool Correlator::fits(const SessionFacts& s, const ExecRequest& r) const {
    if (!r.target.container.empty() && !s.container.empty() && r.target.container != s.container) return false;
    int64_t lower = r.received_ns - options_.skew_ns;
    int64_t upper = r.started_ns.value_or(r.received_ns) + options_.slack_ns + options_.skew_ns;
    return s.start_ns >= lower && s.start_ns <= upper;
}

void Correlator::correlate(const GroupKey& group, int64_t now_ns) {
    std::vector<TrackedSession*> sessions;
    for (auto [it, end] = session_groups_.equal_range(group); it != end; ++it)
        if (auto s = sessions_.find(it->second); s != sessions_.end()) sessions.push_back(&s->second);

    std::vector<TrackedRequest*> pools[2];  // audit first: it knows more than admission
    for (auto [it, end] = request_groups_.equal_range(group); it != end; ++it) {
        auto r = requests_.find(it->second);
        if (r == requests_.end()) continue;
        const ExecRequest& req = r->second.request;
        if (!req.is_exec()) report_request(r->second, RequestState::observed, "");
        else if (req.denied()) report_request(r->second, RequestState::denied, "");
        else if (req.failed()) report_request(r->second, RequestState::failed, "");
        else pools[req.source == "admission" ? 1 : 0].push_back(&r->second);
    }

    std::vector<TrackedSession*> unexplained = sessions;
    for (auto& pool : pools) {
        std::vector<TrackedSession*> left;
        // Connected components of the "fits" relation between these sessions and requests.
        size_t ns = unexplained.size(), nr = pool.size();
        std::vector<size_t> parent(ns + nr);
        std::iota(parent.begin(), parent.end(), size_t{0});
        auto find = [&](size_t x) {
            while (parent[x] != x) x = parent[x] = parent[parent[x]];
            return x;
        };
        std::vector<bool> has_edge(ns + nr, false);
        for (size_t i = 0; i < ns; ++i)
            for (size_t k = 0; k < nr; ++k)
                if (fits(unexplained[i]->facts, pool[k]->request)) {
                    parent[find(i)] = find(ns + k);
                    has_edge[i] = has_edge[ns + k] = true;
                }

        std::map<size_t, std::pair<std::vector<TrackedSession*>, std::vector<TrackedRequest*>>> components;
        for (size_t i = 0; i < ns; ++i) {
            if (has_edge[i]) components[find(i)].first.push_back(unexplained[i]);
            else left.push_back(unexplained[i]);  // maybe the next pool explains it
        }
        for (size_t k = 0; k < nr; ++k) {
            TrackedRequest* r = pool[k];
            if (has_edge[ns + k]) {
                components[find(ns + k)].second.push_back(r);
            } else {
                bool waited = now_ns - r->request.received_ns > options_.grace_ns + options_.slack_ns;
                report_request(*r, waited ? RequestState::unrecorded : RequestState::pending, "");
            }
        }

        const std::string kind = &pool == &pools[0] ? "audit" : "admission";
        for (auto& [root, members] : components) {
            auto& [ss, rs] = members;
            std::sort(ss.begin(), ss.end(), [](auto* a, auto* b) { return a->facts.start_ns < b->facts.start_ns; });
            std::sort(rs.begin(), rs.end(), [](auto* a, auto* b) { return a->request.received_ns < b->request.received_ns; });
            bool paired = false;
            if (ss.size() == rs.size()) {
                // FIFO pairing; confirmed when it is the only one possible, or when completion
                // order (sessions ending, streams closing) pairs them the same way.
                bool fifo_fits = true;
                for (size_t i = 0; i < ss.size(); ++i) fifo_fits = fifo_fits && fits(ss[i]->facts, rs[i]->request);
                bool confirmed = ss.size() == 1;
                if (fifo_fits && !confirmed) {
                    bool all_done = std::all_of(ss.begin(), ss.end(), [](auto* s) { return s->facts.end_ns.has_value(); }) &&
                                    std::all_of(rs.begin(), rs.end(), [](auto* r) { return r->request.completed_ns.has_value(); });
                    if (all_done) {
                        std::vector<size_t> by_end(ss.size()), by_completion(rs.size());
                        std::iota(by_end.begin(), by_end.end(), size_t{0});
                        std::iota(by_completion.begin(), by_completion.end(), size_t{0});
                        std::sort(by_end.begin(), by_end.end(), [&](size_t a, size_t b) { return *ss[a]->facts.end_ns < *ss[b]->facts.end_ns; });
                        std::sort(by_completion.begin(), by_completion.end(),
                                  [&](size_t a, size_t b) { return *rs[a]->request.completed_ns < *rs[b]->request.completed_ns; });
                        confirmed = by_end == by_completion;
                    }
                }
                if (fifo_fits && confirmed) {
                    for (size_t i = 0; i < ss.size(); ++i) {
                        report_session(*ss[i], kind, &rs[i]->request, {});
                        report_request(*rs[i], RequestState::matched, ss[i]->facts.id);
                    }
                    paired = true;
                }
            }
            if (paired) continue;
            // Not (yet) decidable. Before the grace period ends, wait: a late stage or session end
            // may settle it. After it, say so and keep every candidate.
            int64_t newest = 0;
            for (auto* s : ss) newest = std::max(newest, s->facts.start_ns);
            bool waited = now_ns - newest > options_.grace_ns;
            std::vector<const ExecRequest*> candidates;
            for (auto* r : rs) candidates.push_back(&r->request);
            for (auto* s : ss) report_session(*s, waited ? "ambiguous" : "pending", nullptr, waited ? candidates : std::vector<const ExecRequest*>{});
            for (auto* r : rs) report_request(*r, waited ? RequestState::ambiguous : RequestState::pending, "");
        }
        unexplained = std::move(left);
    }

    for (auto* s : unexplained) {
        bool waited = now_ns - s->facts.start_ns > options_.grace_ns;
        report_session(*s, waited ? "unattributed" : "pending", nullptr, {});
    }
}

void Correlator::report_session(TrackedSession& s, const std::string& attribution, const ExecRequest* request,
                                std::vector<const ExecRequest*> candidates) {
    std::string request_id = request ? request->id : "";
    std::vector<std::string> candidate_ids;
    for (const auto* c : candidates) candidate_ids.push_back(c->id);
    std::sort(candidate_ids.begin(), candidate_ids.end());
    ReportedSession now{attribution, request_id, std::move(candidate_ids)};
    if (s.last && s.last->attribution == now.attribution && s.last->request_id == now.request_id &&
        s.last->candidates == now.candidates)
        return;
    bool first_report = !s.last;
    s.last = std::move(now);
    if (first_report && attribution == "pending") return;  // sessions start out pending
    on_session_(SessionVerdict{s.facts.id, attribution, request, std::move(candidates)});
}

void Correlator::report_request(TrackedRequest& r, RequestState state, const std::string& session_id) {
    if (r.last && r.last->state == state && r.last->session_id == session_id) return;
    r.last = ReportedRequest{state, session_id};
    on_request_(RequestVerdict{&r.request, state, session_id});
}

void Correlator::tick(int64_t now_ns) {
    // Re-evaluate every group with something still waiting, then forget what is old and settled.
    std::set<GroupKey> groups;
    for (const auto& [key, id] : session_groups_)
        if (auto s = sessions_.find(id); s != sessions_.end() && (!s->second.last || s->second.last->attribution == "pending"))
            groups.insert(key);
    for (const auto& [key, id] : request_groups_)
        if (auto r = requests_.find(id); r != requests_.end() && (!r->second.last || r->second.last->state == RequestState::pending))
            groups.insert(key);
    for (const auto& g : groups) correlate(g, now_ns);

    int64_t horizon = now_ns - options_.retention_ns;
    for (auto it = session_groups_.begin(); it != session_groups_.end();) {
        auto s = sessions_.find(it->second);
        if (s != sessions_.end() && s->second.facts.start_ns < horizon && s->second.facts.end_ns &&
            s->second.last && s->second.last->attribution != "pending") {
            sessions_.erase(s);
            it = session_groups_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = request_groups_.begin(); it != request_groups_.end();) {
        auto r = requests_.find(it->second);
        if (r != requests_.end() && r->second.request.received_ns < horizon && r->second.last &&
            r->second.last->state != RequestState::pending) {
            requests_.erase(r);
            it = request_groups_.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace execaudit::attribution
