// Correlation: who ran which session, with late, duplicated and concurrent events.
#include "attribution/correlator.h"

#include <gtest/gtest.h>

using namespace execaudit::attribution;

namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1'730'204'504'000'000'000;

AuditEvent stage(const std::string& id, const std::string& name, int64_t received, int64_t at, const std::string& user,
                 std::vector<std::string> command = {"/bin/sh"}, bool tty = true, int code = 0) {
    AuditEvent e;
    e.audit_id = id;
    e.stage = name;
    e.verb = "create";
    e.target = {"exec", "shop", "web", "app", std::move(command), tty, true};
    e.identity.user = user;
    e.identity.decision = code == 403 ? "forbid" : "allow";
    e.response_code = code ? code : (name == "RequestReceived" ? 0 : 101);
    e.received_ns = received;
    e.stage_ns = at;
    return e;
}

SessionFacts session(const std::string& id, int64_t start, std::vector<std::string> command = {"/bin/sh"}, bool tty = true) {
    return SessionFacts{.id = id, .namespace_name = "shop", .pod = "web", .container = "app", .command = std::move(command),
                        .tty = tty, .start_ns = start};
}

// Past every deadline of the events around kT0 (--audit-grace, the stream setup bound).
constexpr int64_t kSettled = kT0 + 200 * kS;

class CorrelatorTest : public ::testing::Test {
protected:
    Correlator c_{Correlator::Options{},
                  [this](const SessionVerdict& v) {
                      verdicts_[v.session_id] = to_string(v.attribution);
                      users_[v.session_id] = v.request ? v.request->identity.user : "";
                      candidates_[v.session_id].clear();
                      for (auto* r : v.candidates) candidates_[v.session_id].push_back(r->identity.user);
                  },
                  [this](const RequestVerdict& v) {
                      states_[v.request->audit_id] = v.state;  // by auditID: the key has a hash
                      matched_[v.request->audit_id] = v.session_id;
                  }};
    std::map<std::string, std::string> verdicts_, users_;
    std::map<std::string, std::vector<std::string>> candidates_;
    std::map<std::string, RequestState> states_;
    std::map<std::string, std::string> matched_;
};

TEST_F(CorrelatorTest, SessionThenStagesInAnyOrder) {
    c_.add_session(session("s1", kT0 + kS / 10), kT0 + kS);
    EXPECT_EQ(verdicts_.count("s1"), 0u);  // pending is not reported
    c_.add_audit_event(stage("a1", "ResponseComplete", kT0, kT0 + 30 * kS, "alice"), kT0 + kS);
    c_.add_audit_event(stage("a1", "RequestReceived", kT0, kT0, "alice"), kT0 + kS);
    c_.add_audit_event(stage("a1", "ResponseStarted", kT0, kT0 + kS / 20, "alice"), kT0 + kS);
    EXPECT_EQ(verdicts_.count("s1"), 0u);  // pending until a rival can no longer arrive
    c_.tick(kSettled);
    EXPECT_EQ(verdicts_["s1"], "audit");
    EXPECT_EQ(users_["s1"], "alice");
    std::string key = request_key(stage("a1", "RequestReceived", kT0, kT0, "alice"));
    EXPECT_EQ(states_["a1"], RequestState::matched);
    EXPECT_EQ(matched_["a1"], "s1");
    const ExecRequest* r = c_.request(key);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->stages.size(), 3u);
    EXPECT_EQ(r->started_ns, kT0 + kS / 20);
    EXPECT_EQ(r->completed_ns, kT0 + 30 * kS);
}

TEST_F(CorrelatorTest, ClockSkewIsTolerated) {
    // the node's clock is 1.5 s behind the API server's: the session "starts" before the request
    c_.add_audit_event(stage("a1", "RequestReceived", kT0, kT0, "alice"), kT0);
    c_.add_session(session("s1", kT0 - 1'500'000'000), kT0);
    c_.add_audit_event(stage("a2", "RequestReceived", kT0 + 100 * kS, kT0 + 100 * kS, "bob"), kT0 + 100 * kS);
    c_.add_session(session("s2", kT0 + 100 * kS - 3 * kS), kT0 + 100 * kS);  // 3 s is too much
    EXPECT_EQ(verdicts_.count("s2"), 0u);
    c_.tick(kT0 + 190 * kS);  // past the grace period: neither is the other's
    EXPECT_EQ(verdicts_["s2"], "unattributed");
    EXPECT_EQ(states_["a2"], RequestState::unrecorded);
    EXPECT_EQ(states_["a1"], RequestState::matched);
    EXPECT_EQ(matched_["a1"], "s1");
}

TEST_F(CorrelatorTest, EverythingMustMatch) {
    c_.add_audit_event(stage("a1", "RequestReceived", kT0, kT0, "alice", {"/bin/bash"}), kT0);
    c_.add_audit_event(stage("a2", "RequestReceived", kT0, kT0, "bob", {"/bin/sh"}, false), kT0);  // no tty
    auto other_container = stage("a3", "RequestReceived", kT0, kT0, "carol");
    other_container.target.container = "sidecar";
    c_.add_audit_event(other_container, kT0);
    c_.add_session(session("s1", kT0 + kS), kT0 + kS);  // /bin/sh with a tty in container app
    c_.tick(kT0 + 90 * kS);
    EXPECT_EQ(verdicts_["s1"], "unattributed");
    EXPECT_EQ(states_["a1"], RequestState::unrecorded);
    EXPECT_EQ(states_["a2"], RequestState::unrecorded);
    EXPECT_EQ(states_["a3"], RequestState::unrecorded);
}

TEST_F(CorrelatorTest, UnattributedThenFixedByALateEvent) {
    c_.add_session(session("s1", kT0), kT0);
    c_.tick(kT0 + 30 * kS);
    EXPECT_EQ(verdicts_.count("s1"), 0u);  // still within the grace period
    c_.tick(kT0 + 61 * kS);
    EXPECT_EQ(verdicts_["s1"], "unattributed");
    // the webhook batch arrives very late
    c_.add_audit_event(stage("a1", "ResponseStarted", kT0 - kS / 10, kT0 - kS / 20, "alice"), kT0 + 70 * kS);
    EXPECT_EQ(verdicts_["s1"], "audit");
    EXPECT_EQ(users_["s1"], "alice");
}

TEST_F(CorrelatorTest, DeniedAndFailedNeverMatch) {
    c_.add_audit_event(stage("d1", "ResponseComplete", kT0, kT0, "mallory", {"/bin/sh"}, true, 403), kT0);
    c_.add_audit_event(stage("f1", "ResponseComplete", kT0, kT0, "alice", {"/bin/sh"}, true, 404), kT0);
    c_.add_session(session("s1", kT0 + kS / 10), kT0);
    EXPECT_EQ(states_["d1"], RequestState::denied);
    EXPECT_EQ(states_["f1"], RequestState::failed);
    c_.tick(kT0 + 61 * kS);
    EXPECT_EQ(verdicts_["s1"], "unattributed");
}

TEST_F(CorrelatorTest, UnrecordedAfterGrace) {
    c_.add_audit_event(stage("a1", "ResponseStarted", kT0, kT0 + kS / 20, "alice"), kT0);
    c_.tick(kT0 + 30 * kS);
    EXPECT_EQ(states_["a1"], RequestState::pending);
    c_.tick(kT0 + 70 * kS);
    EXPECT_EQ(states_["a1"], RequestState::unrecorded);
}

TEST_F(CorrelatorTest, TwinsAreNamedOnlyWhenTheirWindowsTellThemApart) {
    // alice, then bob 100 ms later: same command, same container. Their order is not evidence
    // (a client controls its own stream's timing), so they stay ambiguous, whatever order they end in.
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0, kT0 + kS / 20, "alice"), kT0);
    c_.add_audit_event(stage("rb", "ResponseStarted", kT0 + kS / 10, kT0 + kS / 10 + kS / 20, "bob"), kT0);
    c_.add_session(session("sa", kT0 + kS / 10), kT0);
    c_.add_session(session("sb", kT0 + kS / 5), kT0);
    c_.end_session("sb", kT0 + 10 * kS, kT0 + 10 * kS);
    c_.add_audit_event(stage("rb", "ResponseComplete", kT0 + kS / 10, kT0 + 10 * kS + kS / 50, "bob"), kT0 + 10 * kS);
    c_.end_session("sa", kT0 + 20 * kS, kT0 + 20 * kS);
    c_.add_audit_event(stage("ra", "ResponseComplete", kT0, kT0 + 20 * kS + kS / 50, "alice"), kT0 + 20 * kS);
    c_.tick(kSettled);
    EXPECT_EQ(verdicts_["sa"], "ambiguous");
    EXPECT_EQ(verdicts_["sb"], "ambiguous");
    EXPECT_EQ(candidates_["sa"], (std::vector<std::string>{"alice", "bob"}));

    // carol, then dave 5 s later (more than --audit-skew): carol's session started before dave's
    // request was decided, so it can only be carol's, and the other one is dave's.
    int64_t t = kT0 + 1000 * kS;
    c_.add_audit_event(stage("rc", "ResponseStarted", t, t + kS / 20, "carol"), t);
    c_.add_session(session("sc", t + kS / 10), t);
    c_.add_audit_event(stage("rd", "ResponseStarted", t + 5 * kS, t + 5 * kS + kS / 20, "dave"), t + 5 * kS);
    c_.add_session(session("sd", t + 5 * kS + kS / 10), t + 5 * kS);
    c_.tick(t + 30 * kS);
    EXPECT_EQ(verdicts_.count("sc"), 0u);  // settled only after --audit-grace
    c_.tick(t + 200 * kS);
    EXPECT_EQ(users_["sc"], "carol");
    EXPECT_EQ(users_["sd"], "dave");
}

TEST_F(CorrelatorTest, ConcurrentTwinsThatContradictAreAmbiguous) {
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0, kT0 + kS / 20, "alice"), kT0);
    c_.add_audit_event(stage("rb", "ResponseStarted", kT0 + kS / 10, kT0 + kS / 10 + kS / 20, "bob"), kT0);
    c_.add_session(session("s1", kT0 + kS / 10), kT0);
    c_.add_session(session("s2", kT0 + kS / 5), kT0);
    // completion order says the first session belongs to the second request: FIFO is contradicted
    c_.end_session("s1", kT0 + 10 * kS, kT0 + 10 * kS);
    c_.end_session("s2", kT0 + 20 * kS, kT0 + 20 * kS);
    c_.add_audit_event(stage("ra", "ResponseComplete", kT0, kT0 + 20 * kS, "alice"), kT0 + 20 * kS);
    c_.add_audit_event(stage("rb", "ResponseComplete", kT0 + kS / 10, kT0 + 10 * kS, "bob"), kT0 + 20 * kS);
    c_.tick(kT0 + 61 * kS);
    EXPECT_EQ(verdicts_["s1"], "ambiguous");
    EXPECT_EQ(verdicts_["s2"], "ambiguous");
    EXPECT_EQ(candidates_["s1"], (std::vector<std::string>{"alice", "bob"}));
    EXPECT_EQ(states_["ra"], RequestState::ambiguous);
}

TEST_F(CorrelatorTest, AdmissionWhenThereIsNoAudit) {
    ExecRequest adm;
    adm.id = "review-1";
    adm.audit_id = "review-1";
    adm.source = RequestSource::admission;
    adm.identity.decision = "allow";
    adm.target = {"exec", "shop", "web", "app", {"/bin/sh"}, true, true};
    adm.identity.user = "eve";
    adm.received_ns = kT0;
    c_.add_request(adm, kT0);
    c_.add_session(session("s1", kT0 + kS / 2), kT0 + kS);
    c_.tick(kSettled);
    EXPECT_EQ(verdicts_["s1"], "admission");
    EXPECT_EQ(users_["s1"], "eve");

    // With both sources, the audit event of the same exec knows more: it names the session (even
    // when it arrives after the review), and the review is the same exec, not an unrecorded one.
    int64_t t = kT0 + 1000 * kS;
    adm.id = "review-2";
    adm.audit_id = "review-2";
    adm.received_ns = t;
    c_.add_request(adm, t);
    c_.add_session(session("s2", t + kS / 2), t + kS);
    c_.add_audit_event(stage("a2", "ResponseStarted", t, t + kS / 10, "eve"), t + 5 * kS);
    c_.tick(t + 200 * kS);
    EXPECT_EQ(verdicts_["s2"], "audit");
    EXPECT_EQ(states_["review-2"], RequestState::matched);
    EXPECT_EQ(matched_["review-2"], "s2");
}

TEST_F(CorrelatorTest, DuplicateDeliveriesChangeNothing) {
    auto e = stage("a1", "ResponseStarted", kT0, kT0 + kS / 20, "alice");
    c_.add_audit_event(e, kT0);
    c_.add_audit_event(e, kT0);
    c_.add_session(session("s1", kT0 + kS / 10), kT0);
    c_.add_audit_event(e, kT0 + kS);
    c_.tick(kSettled);
    EXPECT_EQ(verdicts_["s1"], "audit");
    EXPECT_EQ(c_.requests_tracked(), 1u);
}

TEST_F(CorrelatorTest, AttachIsObservedNotMatched) {
    auto a = stage("at", "ResponseStarted", kT0, kT0, "alice", {});
    a.target.kind = "attach";
    c_.add_audit_event(a, kT0);
    c_.tick(kSettled);
    EXPECT_EQ(states_["at"], RequestState::observed);  // no terminal session in that container to join
}

}  // namespace

// After a restart, sessions and requests come back with their stored verdicts: a finding that
// was already logged and counted is not reported again, but a change still is.
TEST_F(CorrelatorTest, ReloadedVerdictsAreReportedOnlyWhenTheyChange) {
    int64_t now = kT0 + 600 * kS;
    auto ended = [](SessionFacts s, int64_t end) {
        s.end_ns = end;
        return s;
    };
    c_.add_session(ended(session("s1", kT0), kT0 + 5 * kS), now, ReportedSession{SessionAttribution::unattributed, "", {}});
    c_.add_session(ended(session("s2", kT0, {"/bin/bash"}), kT0 + 5 * kS), now);  // the same, never reported
    c_.add_request(ExecRequest::from(stage("a1", "ResponseComplete", kT0 + 300 * kS, kT0 + 300 * kS, "bob", {"/bin/ls"})),
                   now, ReportedRequest{RequestState::unrecorded, ""});
    c_.tick(now);
    EXPECT_EQ(verdicts_.count("s1"), 0u);
    EXPECT_EQ(verdicts_["s2"], "unattributed");
    EXPECT_EQ(states_.count("a1"), 0u);
    EXPECT_EQ(c_.reported(request_key(stage("a1", "ResponseComplete", kT0 + 300 * kS, kT0 + 300 * kS, "bob", {"/bin/ls"}))).state,
              RequestState::unrecorded);

    c_.add_audit_event(stage("a2", "RequestReceived", kT0, kT0, "alice"), now);  // late, and it fits s1
    EXPECT_EQ(verdicts_["s1"], "audit");
    EXPECT_EQ(users_["s1"], "alice");
    EXPECT_EQ(states_["a2"], RequestState::matched);
}
