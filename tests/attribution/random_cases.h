#pragma once
// Seeded, reproducible interleavings of exec requests and sessions in one pod, for the
// correlator's invariant tests (correlator_random_test.cpp, attribution_store_test.cpp).

#include "attribution/correlator.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace execaudit::testing {

class RandomCase {
public:
    static constexpr int64_t kS = 1'000'000'000;
    static constexpr int64_t kMs = 1'000'000;
    static constexpr int64_t kT0 = 1'730'204'504'000'000'000;

    /// One thing that happens, at the node's time `at`.
    struct Step {
        int64_t at = 0;
        enum Kind { audit, session_start, session_end } kind = audit;
        attribution::AuditEvent event;
        attribution::SessionFacts session;
        std::string text;
    };

    std::map<std::string, std::string> truth;         ///< session -> the user who really asked
    std::map<std::string, std::string> all_sessions;  ///< session -> user ("" for a node-side entry)
    std::vector<Step> steps;
    size_t events_played = 0;

    explicit RandomCase(uint64_t seed) : rng_(seed) {
        skew_ = uniform(-options_.skew_ns, options_.skew_ns);  // node clock minus API server clock
        int honest = static_cast<int>(uniform(1, 4));
        int adversaries = static_cast<int>(uniform(0, 2));
        bool twins = uniform(0, 9) < 8;  // mostly the same command: the hard case
        for (int i = 0; i < honest + adversaries; ++i)
            add_exec(fmt::format("user{}", i), i >= honest, twins ? "/bin/sh" : fmt::format("/bin/sh{}", i % 2));
        for (int i = 0, n = static_cast<int>(uniform(0, 2)); i < n; ++i) add_denied(fmt::format("denied{}", i));
        for (int i = 0, n = static_cast<int>(uniform(0, 1)); i < n; ++i) add_failed(fmt::format("failed{}", i));
        for (int i = 0, n = static_cast<int>(uniform(0, 2)); i < n; ++i) add_node_side(fmt::format("node{}", i));
        std::stable_sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) { return a.at < b.at; });
    }

    attribution::Correlator::Options options() const { return options_; }

    /// Feeds every step at its time, ticking once per second of the node's clock in between,
    /// then long enough for every deadline to pass. `after_step` runs after each.
    template <typename Sink>
    void play(Sink& sink, const std::function<void()>& after_step = {}) {
        int64_t now = kT0 - 10 * kS;
        auto advance = [&](int64_t to) {
            for (int64_t t = now + kS; t < to; t += kS) {
                sink.tick(t);
                if (after_step) after_step();
            }
            now = std::max(now, to);
        };
        for (const auto& st : steps) {
            advance(st.at);
            if (st.kind == Step::audit) sink.add_audit_event(st.event, st.at);
            else if (st.kind == Step::session_start) sink.add_session(st.session, st.at);
            else sink.end_session(st.session.id, *st.session.end_ns, st.at);
            ++events_played;
            if (after_step) after_step();
        }
        advance(now + 400 * kS);
        sink.tick(now + 4000 * kS);
        if (after_step) after_step();
    }

    std::string describe() const {
        std::string out = fmt::format("skew {} ms\n", skew_ / kMs);
        for (const auto& s : steps) out += fmt::format("  +{:>9.3f} s  {}\n", static_cast<double>(s.at - kT0) / kS, s.text);
        return out;
    }

private:
    int64_t uniform(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
    bool coin(int percent) { return uniform(0, 99) < percent; }
    /// An API server time as the node's clock reads it.
    int64_t node(int64_t api_ns) const { return api_ns + skew_; }

    attribution::AuditEvent stage(const std::string& id, const std::string& user, const std::string& name, int64_t received,
                                  int64_t at, int code, const std::string& command) {
        attribution::AuditEvent e;
        e.audit_id = id;
        e.stage = name;
        e.verb = "create";
        e.target = {"exec", "shop", "web", "app", {command}, true, true};
        e.identity.user = user;
        if (name != "RequestReceived") e.identity.decision = code == 403 ? "forbid" : "allow";
        e.response_code = code;
        e.received_ns = received;
        e.stage_ns = at;
        e.request_uri = "/api/v1/namespaces/shop/pods/web/exec?command=" + command;
        return e;
    }

    /// Delivered within --audit-grace of when it happened (the webhook batches, retries).
    void deliver(attribution::AuditEvent e, bool may_drop = true) {
        if (may_drop && coin(10)) return;  // a policy that omits the stage, or a lost batch
        int64_t at = node(e.stage_ns) + uniform(0, options_.grace_ns * 8 / 10);
        std::string text = fmt::format("{} {} {} {}", e.stage, e.identity.user, e.response_code, e.target.command[0]);
        steps.push_back(Step{.at = at, .kind = Step::audit, .event = std::move(e), .text = std::move(text)});
    }

    void add_session_steps(const std::string& id, const std::string& user, const std::string& command, int64_t start,
                           int64_t end) {
        attribution::SessionFacts f{.id = id, .namespace_name = "shop", .pod = "web", .container = "app", .command = {command},
                                    .tty = true, .start_ns = start};
        steps.push_back(Step{.at = start, .kind = Step::session_start, .session = f, .text = "start " + id});
        f.end_ns = end;
        steps.push_back(Step{.at = end, .kind = Step::session_end, .session = f, .text = "end " + id});
        all_sessions[id] = user;
        if (!user.empty()) truth[id] = user;
    }

    void add_exec(const std::string& user, bool adversary, const std::string& command) {
        std::string id = fmt::format("{}-req", user);
        // Mostly a few seconds apart (people), sometimes within the skew of each other (the hard case).
        int64_t received = kT0 + (coin(30) ? uniform(0, 3 * kS) : uniform(0, 60 * kS));
        int64_t started = received + uniform(5 * kMs, 80 * kMs);
        // Honest clients start at once; an adversary may wait up to the kubelet's setup bound.
        int64_t latency = adversary && coin(70) ? uniform(0, options_.stream_setup_ns - kS) : uniform(10 * kMs, 300 * kMs);
        int64_t start = node(started) + latency;
        int64_t end = start + uniform(100 * kMs, 20 * kS);
        // Honest: the stream closes just after the session ends. An adversary closes early
        // (her process lives on) or keeps it open after her first process exits.
        int64_t completed = end - skew_ + uniform(5 * kMs, 60 * kMs);
        if (adversary && coin(60)) completed = std::max(started + kMs, start - skew_ + uniform(0, end - start + 30 * kS));
        deliver(stage(id, user, "RequestReceived", received, received, 0, command));
        deliver(stage(id, user, "ResponseStarted", received, started, 101, command), !adversary);
        deliver(stage(id, user, "ResponseComplete", received, completed, 101, command));
        add_session_steps(user + "-session", user, command, start, end);
    }

    void add_denied(const std::string& user) {
        std::string id = fmt::format("{}-req", user);
        int64_t received = kT0 + uniform(0, 8 * kS);
        deliver(stage(id, user, "RequestReceived", received, received, 0, "/bin/sh"));
        deliver(stage(id, user, "ResponseComplete", received, received + uniform(kMs, 20 * kMs), 403, "/bin/sh"), false);
    }

    void add_failed(const std::string& user) {
        std::string id = fmt::format("{}-req", user);
        int64_t received = kT0 + uniform(0, 8 * kS);
        deliver(stage(id, user, "RequestReceived", received, received, 0, "/bin/sh"));
        deliver(stage(id, user, "ResponseComplete", received, received + uniform(kMs, 200 * kMs), 404, "/bin/sh"), false);
    }

    void add_node_side(const std::string& name) {
        int64_t start = kT0 + uniform(0, 40 * kS);
        add_session_steps(name + "-session", "", "/bin/sh", start, start + uniform(100 * kMs, 20 * kS));
    }

    std::mt19937_64 rng_;
    attribution::Correlator::Options options_{};
    int64_t skew_ = 0;
};

}  // namespace execaudit::testing
