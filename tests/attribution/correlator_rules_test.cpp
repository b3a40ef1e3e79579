// The measured failures of issue 11, as the correlator sees them: each names the wrong person
// (or hides a finding) on the landed code.
#include "attribution/correlator.h"

#include <gtest/gtest.h>

using namespace execaudit::attribution;

namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kT0 = 1'730'204'504'000'000'000;

AuditEvent stage(const std::string& id, const std::string& name, int64_t received, int64_t at, const std::string& user,
                 int code, std::vector<std::string> command = {"/bin/sh"}) {
    AuditEvent e;
    e.audit_id = id;
    e.stage = name;
    e.verb = "create";
    e.target = {"exec", "shop", "web", "app", std::move(command), true, true};
    e.identity.user = user;
    if (code) e.identity.decision = code == 403 ? "forbid" : "allow";
    e.response_code = code;
    e.received_ns = received;
    e.stage_ns = at;
    return e;
}

SessionFacts session(const std::string& id, int64_t start, std::vector<std::string> command = {"/bin/sh"},
                     EntryKind entry = EntryKind::exec) {
    return SessionFacts{.id = id, .namespace_name = "shop", .pod = "web", .container = "app", .command = std::move(command),
                        .tty = true, .start_ns = start, .entry = entry};
}

struct Seen {
    std::map<std::string, std::string> user;  // the last named user of each session
    std::vector<std::string> named;           // every "session=user" ever reported
    std::map<std::string, std::string> verdict, entry, state;
    std::map<std::string, bool> prefix, verified;
    std::map<std::string, size_t> surplus;
};

class Rules : public ::testing::Test {
protected:
    Correlator c_{Correlator::Options{},
                  [this](const SessionVerdict& v) {
                      seen_.verdict[v.session_id] = to_string(v.attribution);
                      seen_.user[v.session_id] = v.request ? v.request->identity.user : "";
                      seen_.entry[v.session_id] = to_string(v.entry);
                      seen_.prefix[v.session_id] = v.prefix_matched;
                      seen_.surplus[v.session_id] = v.surplus_sessions;
                      seen_.verified[v.session_id] = v.request && v.request->verified;
                      if (v.request) seen_.named.push_back(v.session_id + "=" + v.request->identity.user);
                  },
                  [this](const RequestVerdict& v) { seen_.state[v.request->audit_id] = to_string(v.state); }};
    Seen seen_;
    void never_named(const std::string& session, const std::string& user) {
        for (const auto& n : seen_.named) EXPECT_NE(n, session + "=" + user) << "the session was named after the wrong person";
    }
};

// Two users exec the same command into the same container within 100 ms; the node sees them
// start in the other order; both end within 30 ms. End order at that distance is noise.
TEST_F(Rules, SwappedTwinsAreNeverNamedAfterEachOther) {
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0, kT0 + 50 * kMs, "alice", 101), kT0);
    c_.add_audit_event(stage("rb", "ResponseStarted", kT0 + 100 * kMs, kT0 + 150 * kMs, "bob", 101), kT0);
    c_.add_session(session("sb", kT0 + 200 * kMs), kT0);  // bob's session, seen first
    c_.add_session(session("sa", kT0 + 300 * kMs), kT0);
    c_.end_session("sb", kT0 + 10 * kS, kT0 + 10 * kS);
    c_.end_session("sa", kT0 + 10 * kS + 20 * kMs, kT0 + 10 * kS);
    c_.add_audit_event(stage("ra", "ResponseComplete", kT0, kT0 + 10 * kS + 10 * kMs, "alice", 101), kT0 + 11 * kS);
    c_.add_audit_event(stage("rb", "ResponseComplete", kT0 + 100 * kMs, kT0 + 10 * kS + 30 * kMs, "bob", 101), kT0 + 11 * kS);
    c_.tick(kT0 + 200 * kS);
    never_named("sa", "bob");
    never_named("sb", "alice");
    EXPECT_EQ(seen_.verdict["sa"], "ambiguous");
    EXPECT_EQ(seen_.verdict["sb"], "ambiguous");
}

// Mallory's exec is about to be refused; only her RequestReceived is known when alice's session
// starts. She must never be named for it, not even until her 403 arrives.
TEST_F(Rules, ADeniedNeighbourIsNeverNamed) {
    c_.add_audit_event(stage("rm", "RequestReceived", kT0, kT0, "mallory", 0), kT0);
    c_.add_session(session("sa", kT0 + 200 * kMs), kT0 + 200 * kMs);
    c_.tick(kT0 + kS);
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0 + 100 * kMs, kT0 + 150 * kMs, "alice", 101), kT0 + 2 * kS);
    c_.tick(kT0 + 3 * kS);
    c_.add_audit_event(stage("rm", "ResponseComplete", kT0, kT0 + 5 * kMs, "mallory", 403), kT0 + 4 * kS);
    c_.tick(kT0 + 200 * kS);
    never_named("sa", "mallory");
    EXPECT_EQ(seen_.user["sa"], "alice");
}

// A node-side /bin/sh entered after alice's exec had ended is not hers: it is a finding.
TEST_F(Rules, ANodeSideEntryAfterAClosedRequestIsAFinding) {
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0, kT0 + 50 * kMs, "alice", 101), kT0);
    c_.add_session(session("sa", kT0 + 100 * kMs), kT0);
    c_.end_session("sa", kT0 + kS, kT0 + kS);
    c_.add_audit_event(stage("ra", "ResponseComplete", kT0, kT0 + kS + 10 * kMs, "alice", 101), kT0 + kS);
    c_.add_session(session("sx", kT0 + kS + 3500 * kMs), kT0 + 5 * kS);  // 2.5 s after the stream closed
    c_.tick(kT0 + 200 * kS);
    EXPECT_EQ(seen_.user["sa"], "alice");
    EXPECT_EQ(seen_.verdict["sx"], "unattributed");
}

// The kernel keeps a bounded argv: a recorded prefix of a long command is the same command.
TEST_F(Rules, ATruncatedArgvMatchesAsAPrefix) {
    std::vector<std::string> full = {"/bin/sh", "-c"};
    for (int i = 0; i < 300; ++i) full.push_back("arg" + std::to_string(i));
    std::vector<std::string> recorded(full.begin(), full.begin() + 64);
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0, kT0 + 50 * kMs, "alice", 101, full), kT0);
    auto s = session("sa", kT0 + 100 * kMs, recorded);
    s.command_truncated = true;
    c_.add_session(s, kT0);
    // an argument cut by the kernel, whatever its bound
    std::vector<std::string> long_arg = {"/bin/sh", "-c", std::string(40000, 'x')};
    c_.add_audit_event(stage("rb", "ResponseStarted", kT0 + 10 * kS, kT0 + 10 * kS, "bob", 101, long_arg), kT0);
    auto cut = session("sb", kT0 + 10 * kS + 100 * kMs, {"/bin/sh", "-c", std::string(4096, 'x')});
    cut.command_truncated = true;
    c_.add_session(cut, kT0);
    // without the flag, a prefix is another command
    c_.add_audit_event(stage("rc", "ResponseStarted", kT0 + 20 * kS, kT0 + 20 * kS, "carol", 101, full), kT0);
    c_.add_session(session("sc", kT0 + 20 * kS + 100 * kMs, recorded), kT0);
    c_.tick(kT0 + 200 * kS);
    EXPECT_EQ(seen_.user["sa"], "alice");
    EXPECT_TRUE(seen_.prefix["sa"]);
    EXPECT_EQ(seen_.user["sb"], "bob");
    EXPECT_EQ(seen_.verdict["sc"], "unattributed");
    EXPECT_EQ(seen_.state["rc"], "unrecorded");
}

// --audit-skew 2: tolerated on both sides of the request's window, by the same amount.
TEST_F(Rules, SkewIsSymmetric) {
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0, kT0, "alice", 101, {"/bin/a"}), kT0);
    c_.add_audit_event(stage("ra", "ResponseComplete", kT0, kT0 + 10 * kS, "alice", 101, {"/bin/a"}), kT0);
    c_.add_session(session("early", kT0 - 1500 * kMs, {"/bin/a"}), kT0);
    c_.add_audit_event(stage("rb", "ResponseStarted", kT0, kT0, "bob", 101, {"/bin/b"}), kT0);
    c_.add_audit_event(stage("rb", "ResponseComplete", kT0, kT0 + 10 * kS, "bob", 101, {"/bin/b"}), kT0);
    c_.add_session(session("late", kT0 + 10 * kS + 2500 * kMs, {"/bin/b"}), kT0);
    c_.tick(kT0 + 200 * kS);
    EXPECT_EQ(seen_.user["early"], "alice");       // 1.5 s before: inside the skew
    EXPECT_EQ(seen_.verdict["late"], "unattributed");  // 2.5 s after the close: outside it
}

// A node-side entry while alice's exec is open, same command: one of the two has no request.
// Which one cannot be known, but that someone went around the API server is certain.
TEST_F(Rules, MoreSessionsThanRequestsIsAFinding) {
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0, kT0 + 50 * kMs, "alice", 101), kT0);
    c_.add_session(session("sa", kT0 + 100 * kMs), kT0);
    c_.add_session(session("sx", kT0 + 10 * kS), kT0 + 10 * kS);
    c_.tick(kT0 + 200 * kS);
    EXPECT_EQ(seen_.verdict["sa"], "ambiguous");
    EXPECT_EQ(seen_.verdict["sx"], "ambiguous");
    EXPECT_EQ(seen_.surplus["sx"], 1u);
    EXPECT_TRUE(seen_.named.empty());
}

// A client may reuse another request's Audit-ID: it becomes a request of its own.
TEST_F(Rules, AReusedAuditIdIsAnotherRequest) {
    c_.add_audit_event(stage("same", "ResponseStarted", kT0, kT0 + 50 * kMs, "alice", 101), kT0);
    c_.add_session(session("sa", kT0 + 100 * kMs), kT0);
    auto forged = stage("same", "ResponseComplete", kT0 + 900 * kMs, kT0 + 950 * kMs, "mallory", 403);
    c_.add_audit_event(forged, kT0 + kS);
    c_.tick(kT0 + 200 * kS);
    EXPECT_EQ(c_.requests_tracked(), 2u);
    EXPECT_EQ(seen_.user["sa"], "alice");
    never_named("sa", "mallory");
}

// A raw byte in a requestURI reaches the audit log as U+FFFD (Go's JSON encoder); the kernel
// records the byte. Still the same command.
TEST_F(Rules, ARawByteInTheCommandStillMatches) {
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0, kT0 + 50 * kMs, "alice", 101, {"/bin/echo", "a\xEF\xBF\xBD" "b"}), kT0);
    c_.add_session(session("sa", kT0 + 100 * kMs, {"/bin/echo", "a\xFF" "b"}), kT0);
    c_.tick(kT0 + 200 * kS);
    EXPECT_EQ(seen_.user["sa"], "alice");
}

// A command argument with a NUL byte cannot be exec'd (runc refuses it): never a candidate,
// even for a session whose argv it would split into.
TEST_F(Rules, ANulInTheCommandIsNeverACandidate) {
    c_.add_audit_event(stage("rm", "ResponseStarted", kT0, kT0 + 50 * kMs, "mallory", 101, {std::string("/bin/sh\0-c", 10)}), kT0);
    c_.add_session(session("sa", kT0 + 100 * kMs, {"/bin/sh", "-c"}), kT0);
    c_.tick(kT0 + 200 * kS);
    never_named("sa", "mallory");
    EXPECT_EQ(seen_.state["rm"], "failed");
}

// nsenter can never have an API request: a finding at once, without waiting.
TEST_F(Rules, NsenterIsAFindingAtOnce) {
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0, kT0 + 50 * kMs, "alice", 101), kT0);
    c_.add_session(session("sn", kT0 + 100 * kMs, {"/bin/sh"}, EntryKind::nsenter), kT0 + 100 * kMs);
    EXPECT_EQ(seen_.verdict["sn"], "unattributed");
    never_named("sn", "alice");
}

// A tty-init session: kubectl attach (any time while it runs), kubectl debug (it starts after
// the request that created its container), or nobody: the workload itself.
TEST_F(Rules, TtyInitSessionsAreConfirmedByAttachOrDebug) {
    auto attach = stage("at", "ResponseStarted", kT0 + 100 * kS, kT0 + 100 * kS, "alice", 101, {});
    attach.target.kind = "attach";
    c_.add_session(session("st", kT0, {"/bin/sh"}, EntryKind::tty_init), kT0);
    c_.tick(kT0 + 70 * kS);
    EXPECT_EQ(seen_.verdict["st"], "workload");  // nobody attached yet: not a finding
    c_.add_audit_event(attach, kT0 + 100 * kS);
    c_.tick(kT0 + 150 * kS);
    EXPECT_EQ(seen_.verdict["st"], "pending");  // someone else may still attach while it runs
    c_.end_session("st", kT0 + 200 * kS, kT0 + 200 * kS);
    c_.tick(kT0 + 300 * kS);
    EXPECT_EQ(seen_.user["st"], "alice");
    EXPECT_EQ(seen_.entry["st"], "attach");
    EXPECT_EQ(seen_.state["at"], "matched");

    int64_t t = kT0 + 1000 * kS;
    auto debug = stage("eph", "ResponseComplete", t, t + 20 * kMs, "bob", 200, {});
    debug.target.kind = "ephemeralcontainers";
    debug.target.container = "";
    c_.add_audit_event(debug, t);
    auto sd = session("sd", t + 3 * kS, {"/bin/sh"}, EntryKind::tty_init);
    sd.container = "debugger-x7";
    c_.add_session(sd, t + 3 * kS);
    c_.end_session("sd", t + 60 * kS, t + 60 * kS);
    c_.tick(t + 200 * kS);
    EXPECT_EQ(seen_.user["sd"], "bob");
    EXPECT_EQ(seen_.entry["sd"], "debug");

    // two people on one terminal: both are kept
    int64_t u = kT0 + 2000 * kS;
    c_.add_session(session("s2", u, {"/bin/sh"}, EntryKind::tty_init), u);
    for (auto [id, who] : {std::pair{"a1", "carol"}, std::pair{"a2", "dave"}}) {
        auto a = stage(id, "ResponseStarted", u + 5 * kS, u + 5 * kS, who, 101, {});
        a.target.kind = "attach";
        c_.add_audit_event(a, u + 5 * kS);
    }
    c_.end_session("s2", u + 10 * kS, u + 10 * kS);
    c_.tick(u + 200 * kS);
    EXPECT_EQ(seen_.verdict["s2"], "ambiguous");
    never_named("s2", "carol");
    never_named("s2", "dave");
}

// An identity nobody authenticated (a managed cluster's admission webhook) never overrides an
// authenticated one, and is marked as such when it is all there is.
TEST_F(Rules, UnverifiedAdmissionNeverOverridesAudit) {
    ExecRequest forged;
    forged.audit_id = "forged-1";
    forged.source = RequestSource::admission;
    forged.verified = false;
    forged.target = {"exec", "shop", "web", "app", {"/bin/sh"}, true, true};
    forged.identity.user = "innocent-bob";
    forged.identity.decision = "allow";
    forged.received_ns = kT0;
    forged.id = request_key(forged);
    c_.add_request(forged, kT0);
    c_.add_audit_event(stage("ra", "ResponseStarted", kT0, kT0 + 50 * kMs, "mallory", 101), kT0);
    c_.add_session(session("sm", kT0 + 100 * kMs), kT0);
    c_.tick(kT0 + 200 * kS);
    EXPECT_EQ(seen_.user["sm"], "mallory");
    never_named("sm", "innocent-bob");

    int64_t t = kT0 + 1000 * kS;
    forged.received_ns = t;
    forged.audit_id = "forged-2";
    forged.id = request_key(forged);
    c_.add_request(forged, t);
    c_.add_session(session("sx", t + 100 * kMs), t);
    c_.tick(t + 200 * kS);
    EXPECT_EQ(seen_.verdict["sx"], "admission");
    EXPECT_FALSE(seen_.verified["sx"]);
}

}  // namespace

// Cluster mode: the node judges each ended exec against the pod spec, but only the leader knows
// the API's requests. The judgement decides a session nobody asked for, never one a request
// explains, and never one on a tty, whatever the node claims.
TEST_F(Rules, ANodesKubeletJudgementNeverOutweighsAnAuditedRequest) {
    const std::vector<std::string> probe = {"/bin/cat", "/etc/passwd"};
    const KubeletJudgement kubelet{.kubelet = true, .entered_via = "probe", .name = "liveness"};
    auto asked = stage("rc", "ResponseStarted", kT0, kT0 + 50 * kMs, "carol", 101, probe);
    asked.target.tty = false;
    c_.add_audit_event(asked, kT0);
    auto facts = [&](const std::string& id, int64_t start, bool tty) {
        auto f = session(id, start, probe);
        f.tty = tty;
        return f;
    };
    c_.add_session(facts("carol", kT0 + 100 * kMs, false), kT0);
    c_.classify_session("carol", kubelet);  // the node cannot know she asked: it judged by the spec
    c_.end_session("carol", kT0 + kS, kT0 + kS);
    asked.stage = "ResponseComplete";
    asked.stage_ns = kT0 + kS + 10 * kMs;
    c_.add_audit_event(asked, kT0 + kS);
    c_.add_session(facts("probe", kT0 + 5 * kS, false), kT0 + 5 * kS);
    c_.classify_session("probe", kubelet);
    c_.end_session("probe", kT0 + 5 * kS + 10 * kMs, kT0 + 5 * kS);
    c_.add_session(facts("on-a-tty", kT0 + 6 * kS, true), kT0 + 6 * kS);
    c_.classify_session("on-a-tty", kubelet);  // a node that says so of a session on a tty
    c_.end_session("on-a-tty", kT0 + 7 * kS, kT0 + 7 * kS);
    c_.tick(kT0 + 200 * kS);
    EXPECT_EQ(seen_.verdict["carol"], "audit");
    EXPECT_EQ(seen_.user["carol"], "carol");
    EXPECT_EQ(seen_.verdict["probe"], "kubelet");
    EXPECT_EQ(seen_.verdict["on-a-tty"], "unattributed");
}
