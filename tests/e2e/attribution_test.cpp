// Who did it, end to end: real sessions in real containers, the API server's audit events posted
// to the recorder's webhook over HTTPS with a client certificate (by curl), appended to a log
// file that rotates, and admission reviews; asserted through the CLI.
#include "tests/support/audit_fixtures.h"
#include "tests/support/node_test.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>
#include <tuple>
#include <fstream>
#include <sstream>

using namespace execaudit::testing;
using nlohmann::json;

namespace {

constexpr int64_t kMs = 1'000'000;

class Attribution : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"curl", "openssl"}; }

    ExecCall call(const std::string& id, const std::string& user, std::vector<std::string> command, int64_t received) {
        ExecCall c;
        c.audit_id = id;
        c.user = user;
        c.ns = "shop";
        c.pod = "web-7f9c";
        c.container = "app";
        c.command = std::move(command);
        c.received_ns = received;
        return c;
    }

    // An interactive session that runs one command and exits; returns when it has ended.
    void session(const std::string& exec_id, const std::vector<std::string>& command, const std::string& marker) {
        PtyProcess shell(bed_->exec_tty(container_, exec_id, command), 24, 80);
        ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
        shell.type("echo " + marker + "; exit\r");
        ASSERT_EQ(shell.wait(20s), 0);
    }

    // A command run with a terminal (exec -t) to completion, no typing.
    void run_tty(const std::string& exec_id, const std::vector<std::string>& command) {
        PtyProcess p(bed_->exec_tty(container_, exec_id, command), 24, 80);
        ASSERT_EQ(p.wait(30s), 0) << p.output();
    }

    // The one session whose commands include `substring` ("" for the only session there is).
    json session_with(const std::string& substring) {
        json list = substring.empty() ? list_sessions(db_) : list_sessions(db_, {"--command", substring});
        return list.size() == 1 ? list[0] : json::object();
    }

    std::string webhook_url() const {
        return (tls_ ? "https" : "http") + std::string("://127.0.0.1:") +
               std::to_string(logged_port(recorder_->log(), "audit webhook")) + "/audit";
    }

    CurlResult post(const std::vector<json>& items, std::vector<std::string> tls_args = {}) {
        if (tls_ && tls_args.empty()) tls_args = {"--cacert", pki_->ca, "--cert", pki_->client_cert, "--key", pki_->client_key};
        return curl_post(webhook_url(), event_list(items), dir_.path(), tls_args);
    }

    std::unique_ptr<TestPki> pki_;
    bool tls_ = false;
};

TEST_F(Attribution, HttpsWebhookWithClientCertificateInAnyOrder) {
    pki_ = std::make_unique<TestPki>(dir_.path());
    tls_ = true;
    recorder_ = std::make_unique<Recorder>(
        *bed_, db_,
        std::vector<std::string>{"--audit-webhook", "127.0.0.1:0", "--tls-cert", pki_->server_cert, "--tls-key", pki_->server_key,
                                 "--client-ca", pki_->ca, "--client-subject", "kube-apiserver", "--audit-grace", "3"});
    auto c = call("1b0ad713-c643-441e-af7b-1076dead4201", "alice", {"/bin/bash", "--norc"}, now_ns());

    // before the session: the request arrives
    auto before = post({audit_stage(c, "RequestReceived", c.received_ns, 0)});
    ASSERT_EQ(before.status, 200) << before.body;
    int64_t upgraded = now_ns();
    session("alice-1", c.command, "alice-was-here");
    // after it, out of order: completion before the upgrade; and the whole batch again (a retry)
    auto after = post({audit_stage(c, "ResponseComplete", now_ns(), 101),
                       audit_stage(c, "ResponseStarted", upgraded, 101)});
    ASSERT_EQ(after.status, 200) << after.body;
    ASSERT_EQ(post({audit_stage(c, "ResponseStarted", upgraded, 101)}).status, 200);

    ASSERT_TRUE(eventually([&] { return session_with("").value("attribution", "") == "audit"; }))
        << list_sessions(db_).dump(2) << recorder_->log();
    json s = session_with("");
    EXPECT_EQ(s["user"], "alice");
    EXPECT_EQ(s["audit_id"], c.audit_id);
    EXPECT_EQ(s["groups"], json::array({"devs", "system:authenticated"}));
    EXPECT_EQ(s["source_ips"], json::array({"10.1.2.3"}));
    EXPECT_EQ(s["user_agent"], "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625");
    EXPECT_EQ(list_sessions(db_, {"--user", "alice"}).size(), 1u);
    EXPECT_EQ(list_sessions(db_, {"--user", "bob"}).size(), 0u);

    json shown = show_session(db_, s["id"]);
    EXPECT_EQ(shown["user_uid"], "uid-alice");
    EXPECT_EQ(shown["authz_decision"], "allow");
    EXPECT_NE(shown["authz_reason"].get<std::string>().find("RoleBinding"), std::string::npos);
    EXPECT_EQ(shown["request_verb"], "create");
    auto table = run({execaudit_bin(), "show", s["id"], "--db", db_});
    EXPECT_NE(table.out.find("alice"), std::string::npos);
    EXPECT_NE(table.out.find("10.1.2.3"), std::string::npos);

    // every stage stored once, whatever was retried
    auto requests = json::parse(run({execaudit_bin(), "audit-events", "--db", db_, "--format", "json"}).out);
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0]["state"], "matched");
    EXPECT_EQ(requests[0]["session_id"], s["id"]);
    EXPECT_FALSE(requests[0]["started"].is_null());
    EXPECT_FALSE(requests[0]["completed"].is_null());

    // the SIEM hears about it too: the export carries the attribution record with the user
    auto exported = run({execaudit_bin(), "export", "--format", "jsonl", "--db", db_});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    bool attributed_record = false;
    std::istringstream lines(exported.out);
    for (std::string line; std::getline(lines, line);) {
        json r = json::parse(line);
        if (r["kind"] == "session_attributed" && r["session"]["user"] == "alice" && r["session"]["attribution"] == "audit")
            attributed_record = true;
    }
    EXPECT_TRUE(attributed_record) << exported.out;

    // no client certificate, one from another CA, or one of the right CA with a name that is not
    // --client-subject (a kubelet's): refused at the TLS handshake, and nothing is stored
    auto forged = c;
    forged.audit_id = "f0f0f0f0-forged";
    forged.user = "innocent-bob";
    auto forged_stage = audit_stage(forged, "ResponseStarted", now_ns(), 101);
    auto node = post({forged_stage}, {"--cacert", pki_->ca, "--cert", pki_->node_cert, "--key", pki_->node_key});
    EXPECT_NE(node.exit_code, 0);
    auto anonymous = post({forged_stage}, {"--cacert", pki_->ca});
    EXPECT_NE(anonymous.exit_code, 0);
    auto rogue = post({forged_stage}, {"--cacert", pki_->ca, "--cert", pki_->rogue_cert, "--key", pki_->rogue_key});
    EXPECT_NE(rogue.exit_code, 0);
    auto plain = curl_post("http://127.0.0.1:" + std::to_string(logged_port(recorder_->log(), "audit webhook")) + "/audit",
                           event_list({forged_stage}), dir_.path());
    EXPECT_NE(plain.status, 200);
    auto stored = json::parse(run({execaudit_bin(), "audit-events", "--db", db_, "--format", "json"}).out);
    EXPECT_EQ(stored.size(), 1u) << stored.dump(2);
    // the first refusal of a window is logged in full (the kubelet's certificate, by name), the rest counted
    ASSERT_TRUE(eventually([&] { return recorder_->log().find("not one of --client-subject") != std::string::npos; }))
        << recorder_->log();
    // malformed and oversized bodies
    auto bad = curl_post(webhook_url(), "{\"kind\":\"EventList\",\"items\":[", dir_.path(),
                         {"--cacert", pki_->ca, "--cert", pki_->client_cert, "--key", pki_->client_key});
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("not valid JSON"), std::string::npos);
    auto huge = curl_post(webhook_url(), std::string(40 << 20, ' '), dir_.path(),
                          {"--cacert", pki_->ca, "--cert", pki_->client_cert, "--key", pki_->client_key});
    EXPECT_EQ(huge.status, 413);
    EXPECT_EQ(recorder_->stop(), 0);
}

TEST_F(Attribution, AuditLogFollowedThroughRotationAndRestart) {
    std::string log = dir_.file("audit.log");
    std::ofstream(log) << "";
    recorder_ = std::make_unique<Recorder>(*bed_, db_, std::vector<std::string>{"--audit-log", log, "--audit-grace", "2"});
    auto append = [&](const std::string& text) {
        std::ofstream out(log, std::ios::app);
        out << text;
    };
    auto line = [](const json& e) { return e.dump() + "\n"; };
    std::string unrelated = R"({"kind":"Event","verb":"get","objectRef":{"resource":"configmaps"}})" "\n";

    // session 1: its events in the log, the last one written in two pieces (a partial line)
    auto one = call("log-0001", "carol", {"/bin/sh", "-c", "echo one-xyz; sleep 0.3"}, now_ns());
    append(unrelated + line(audit_stage(one, "RequestReceived", one.received_ns, 0)));
    run_tty("log-1", one.command);
    std::string started = line(audit_stage(one, "ResponseStarted", one.received_ns + 30 * kMs, 101));
    append(started.substr(0, 40));
    std::this_thread::sleep_for(500ms);
    append(started.substr(40));
    append(line(audit_stage(one, "ResponseComplete", now_ns(), 101)));  // the stream closed: its window closes
    ASSERT_TRUE(eventually([&] { return session_with("one-xyz").value("user", json()) == "carol"; }))
        << list_sessions(db_).dump(2) << recorder_->log();

    // rotation by rename, mid-test: the API server's logger moves the file and starts a new one
    std::filesystem::rename(log, log + ".1");
    std::ofstream(log) << "";
    auto two = call("log-0002", "dave", {"/bin/sh", "-c", "echo two-xyz; sleep 0.3"}, now_ns());
    append(line(audit_stage(two, "ResponseStarted", two.received_ns + 20 * kMs, 101)));
    run_tty("log-2", two.command);
    append(line(audit_stage(two, "ResponseComplete", now_ns(), 101)));
    ASSERT_TRUE(eventually([&] { return session_with("two-xyz").value("user", json()) == "dave"; })) << recorder_->log();

    // copytruncate: the same file emptied in place
    std::filesystem::resize_file(log, 0);
    auto three = call("log-0003", "erin", {"/bin/sh", "-c", "echo three-xyz; sleep 0.3"}, now_ns());
    append(line(audit_stage(three, "ResponseStarted", three.received_ns + 20 * kMs, 101)));
    run_tty("log-3", three.command);
    append(line(audit_stage(three, "ResponseComplete", now_ns(), 101)));
    ASSERT_TRUE(eventually([&] { return session_with("three-xyz").value("user", json()) == "erin"; })) << recorder_->log();

    // the recorder stops; the log rotates and grows meanwhile; it resumes where it was
    ASSERT_EQ(recorder_->stop(), 0);
    auto four = call("log-0004", "frank", {"/bin/sh", "-c", "echo four-xyz; sleep 0.3"}, now_ns());
    append(line(audit_stage(four, "RequestReceived", four.received_ns, 0)));
    std::filesystem::rename(log, log + ".2");
    std::ofstream(log) << line(audit_stage(four, "ResponseStarted", four.received_ns + 20 * kMs, 101));
    recorder_ = std::make_unique<Recorder>(*bed_, db_, std::vector<std::string>{"--audit-log", log, "--audit-grace", "2"});
    run_tty("log-4", four.command);
    append(line(audit_stage(four, "ResponseComplete", now_ns(), 101)));
    ASSERT_TRUE(eventually([&] { return session_with("four-xyz").value("user", json()) == "frank"; })) << recorder_->log();
    EXPECT_NE(recorder_->log().find("rotated while the recorder was stopped"), std::string::npos) << recorder_->log();
    // nothing read twice into a second request, nothing missed (a request's verdict is its own
    // write, which may land a commit after its session's)
    json requests;
    auto all_matched = [&] {
        requests = json::parse(run({execaudit_bin(), "audit-events", "--db", db_, "--format", "json"}).out);
        return std::all_of(requests.begin(), requests.end(), [](const json& r) { return r["state"] == "matched"; });
    };
    EXPECT_TRUE(eventually(all_matched)) << requests.dump(2);
    EXPECT_EQ(requests.size(), 4u);
    EXPECT_EQ(recorder_->stop(), 0);
}

TEST_F(Attribution, TwoUsersSameCommandAreNeverSwapped) {
    recorder_ = std::make_unique<Recorder>(
        *bed_, db_, std::vector<std::string>{"--audit-webhook", "127.0.0.1:0", "--insecure-http", "--audit-grace", "3", "--audit-skew", "1"});
    // No session may ever carry a name, at any moment, unless it is the right one.
    auto never_wrong = [&](const std::map<std::string, std::string>& marker_of_user) {
        for (const auto& s : list_sessions(db_)) {
            if (s["user"].is_null()) continue;
            std::string screen = play_cat(db_, s["id"]);
            auto it = marker_of_user.find(s["user"]);
            if (it == marker_of_user.end() || screen.find(it->second) == std::string::npos) return false;
        }
        return true;
    };
    std::map<std::string, std::string> markers = {{"alice", "alice-typed-this"}, {"bob", "bob-typed-this"},
                                                  {"carol", "carol-typed-this"}, {"dave", "dave-typed-this"}};
    std::vector<std::string> command = {"/bin/sh"};
    // alice and bob: the same command into the same container, within a second
    auto alice = call("same-0001", "alice", command, now_ns());
    PtyProcess a(bed_->exec_tty(container_, "same-a", command), 24, 80);
    ASSERT_TRUE(a.wait_for("# ", 20s));
    int64_t alice_started = now_ns();
    auto bob = call("same-0002", "bob", command, now_ns());
    PtyProcess b(bed_->exec_tty(container_, "same-b", command), 24, 80);
    ASSERT_TRUE(b.wait_for("# ", 20s));
    int64_t bob_started = now_ns();
    ASSERT_EQ(post({audit_stage(bob, "ResponseStarted", bob_started, 101), audit_stage(alice, "ResponseStarted", alice_started, 101)})
                  .status,
              200);
    a.type("echo alice-typed-this\r");
    b.type("echo bob-typed-this\r");
    ASSERT_TRUE(a.wait_for("alice-typed-this\r", 10s));
    ASSERT_TRUE(b.wait_for("bob-typed-this\r", 10s));
    EXPECT_TRUE(never_wrong(markers));
    // they leave within milliseconds of each other, streams closing in the other order
    b.type("exit\r");
    a.type("exit\r");
    ASSERT_EQ(b.wait(20s), 0);
    ASSERT_EQ(a.wait(20s), 0);
    ASSERT_EQ(post({audit_stage(alice, "ResponseComplete", now_ns(), 101), audit_stage(bob, "ResponseComplete", now_ns(), 101)})
                  .status,
              200);
    ASSERT_TRUE(eventually([&] {
        EXPECT_TRUE(never_wrong(markers));
        json list = list_sessions(db_);
        return list.size() == 2 && list[0]["attribution"] == "ambiguous" && list[1]["attribution"] == "ambiguous";
    })) << list_sessions(db_).dump(2) << recorder_->log();
    json shown = show_session(db_, list_sessions(db_)[0]["id"]);
    EXPECT_EQ(shown["candidates"].size(), 2u) << shown.dump(2);

    // carol, then dave 3 s later (more than --audit-skew): carol's session began before dave's
    // request was decided, so each can be named
    auto carol = call("seq-0001", "carol", command, now_ns());
    PtyProcess c(bed_->exec_tty(container_, "seq-c", command), 24, 80);
    ASSERT_TRUE(c.wait_for("# ", 20s));
    ASSERT_EQ(post({audit_stage(carol, "ResponseStarted", carol.received_ns + 10 * kMs, 101)}).status, 200);
    std::this_thread::sleep_for(3s);
    auto dave = call("seq-0002", "dave", command, now_ns());
    ASSERT_EQ(post({audit_stage(dave, "ResponseStarted", dave.received_ns + 10 * kMs, 101)}).status, 200);
    PtyProcess d(bed_->exec_tty(container_, "seq-d", command), 24, 80);
    ASSERT_TRUE(d.wait_for("# ", 20s));
    c.type("echo carol-typed-this; exit\r");
    d.type("echo dave-typed-this; exit\r");
    ASSERT_EQ(c.wait(20s), 0);
    ASSERT_EQ(d.wait(20s), 0);
    ASSERT_EQ(post({audit_stage(carol, "ResponseComplete", now_ns(), 101), audit_stage(dave, "ResponseComplete", now_ns(), 101)})
                  .status,
              200);
    ASSERT_TRUE(eventually([&] {
        EXPECT_TRUE(never_wrong(markers));
        return list_sessions(db_, {"--user", "carol"}).size() == 1 && list_sessions(db_, {"--user", "dave"}).size() == 1;
    })) << list_sessions(db_).dump(2) << recorder_->log();
    EXPECT_TRUE(never_wrong(markers));
    EXPECT_EQ(recorder_->stop(), 0);
}

// Long commands as the kernel now keeps them (256 arguments, 32 KiB): matched exactly within the
// bound, as a marked prefix beyond it, never a node bypass.
TEST_F(Attribution, LongCommandsMatchExactlyOrAsAMarkedPrefix) {
    recorder_ = std::make_unique<Recorder>(
        *bed_, db_, std::vector<std::string>{"--audit-webhook", "127.0.0.1:0", "--insecure-http", "--audit-grace", "2"});
    auto command_with = [](const std::string& marker, int args) {
        std::vector<std::string> argv = {"/bin/sh", "-c", "echo " + marker, "sh"};
        for (int i = 0; i < args; ++i) argv.push_back(std::to_string(i));
        argv.push_back(std::string(10000, 'q'));  // one argument beyond the old 4 KiB cut
        return argv;
    };
    for (const auto& [id, user, marker, args] : std::vector<std::tuple<std::string, std::string, std::string, int>>{
             {"long-0001", "gina", "within-xyz", 200}, {"long-0002", "hank", "beyond-xyz", 300}}) {
        auto c = call(id, user, command_with(marker, args), now_ns());
        c.tty = false;
        auto r = run(bed_->ctr([&] {
            std::vector<std::string> a = {"task", "exec", "--exec-id", id, container_};
            a.insert(a.end(), c.command.begin(), c.command.end());
            return a;
        }()));
        ASSERT_EQ(r.exit_code, 0) << r.err;
        ASSERT_EQ(post({audit_stage(c, "ResponseStarted", c.received_ns + 10 * kMs, 101),
                        audit_stage(c, "ResponseComplete", now_ns(), 101)})
                      .status,
                  200);
    }
    ASSERT_TRUE(eventually([&] { return session_with("within-xyz").value("user", json()) == "gina"; }))
        << list_sessions(db_).dump(2) << recorder_->log();
    ASSERT_TRUE(eventually([&] { return session_with("beyond-xyz").value("user", json()) == "hank"; }))
        << list_sessions(db_).dump(2) << recorder_->log();
    json within = session_with("within-xyz"), beyond = session_with("beyond-xyz");
    json within_first = show_session(db_, within["id"])["timeline"][0], beyond_first = show_session(db_, beyond["id"])["timeline"][0];
    EXPECT_EQ(within_first["argv_truncated"], false);
    EXPECT_EQ(within_first["argv"].size(), 205u);
    EXPECT_TRUE(within["argv_prefix_matched"].is_null() || within["argv_prefix_matched"] == false) << within.dump(2);
    EXPECT_EQ(beyond_first["argv_truncated"], true);
    EXPECT_EQ(beyond_first["argv"].size(), 256u);
    EXPECT_EQ(beyond["argv_prefix_matched"], true) << beyond.dump(2);
    EXPECT_EQ(list_sessions(db_, {"--unattributed"}).size(), 0u);
    EXPECT_EQ(recorder_->stop(), 0);
}

TEST_F(Attribution, UnattributedUntilALateEventArrives) {
    recorder_ = std::make_unique<Recorder>(*bed_, db_,
                                           std::vector<std::string>{"--audit-webhook", "127.0.0.1:0", "--insecure-http",
                                                                    "--audit-grace", "2", "--metrics", "127.0.0.1:0"});
    std::string metrics_url = "http://127.0.0.1:" + std::to_string(logged_port(recorder_->log(), "metrics"));
    auto late = call("late-0001", "grace", {"/bin/sh", "-c", "echo late-xyz"}, now_ns());
    auto r = run(bed_->ctr({"task", "exec", "--exec-id", "late-1", container_, "/bin/sh", "-c", "echo late-xyz"}));
    ASSERT_EQ(r.exit_code, 0);
    // nobody asked: after the grace period it is a finding
    ASSERT_TRUE(eventually([&] { return list_sessions(db_, {"--unattributed"}).size() == 1; })) << list_sessions(db_).dump(2);
    EXPECT_NE(recorder_->log().find("FINDING"), std::string::npos);
    json s = list_sessions(db_, {"--unattributed"})[0];
    EXPECT_TRUE(s["user"].is_null());
    auto table = run({execaudit_bin(), "show", s["id"], "--db", db_});
    EXPECT_NE(table.out.find("NOBODY ASKED THE API SERVER"), std::string::npos) << table.out;
    // and counted where monitoring looks
    auto metrics = run({"curl", "-s", metrics_url + "/metrics"});
    EXPECT_NE(metrics.out.find("\nexecaudit_sessions_unattributed_total 1\n"), std::string::npos) << metrics.out;
    EXPECT_NE(metrics.out.find("\nexecaudit_sessions_started_total 1\n"), std::string::npos) << metrics.out;
    EXPECT_NE(metrics.out.find("# TYPE execaudit_sessions_open gauge"), std::string::npos);
    EXPECT_EQ(run({"curl", "-s", metrics_url + "/healthz"}).out, "ok\n");
    // then the webhook batch arrives, late: the verdict is fixed
    late.tty = false;
    ASSERT_EQ(post({audit_stage(late, "ResponseStarted", late.received_ns + 10 * kMs, 101),
                    audit_stage(late, "ResponseComplete", now_ns(), 101)})
                  .status,
              200);
    ASSERT_TRUE(eventually([&] { return list_sessions(db_, {"--user", "grace"}).size() == 1; })) << list_sessions(db_).dump(2);
    EXPECT_EQ(list_sessions(db_, {"--unattributed"}).size(), 0u);
    EXPECT_EQ(recorder_->stop(), 0);
}

TEST_F(Attribution, UnrecordedExecsAndDeniedAttempts) {
    recorder_ = std::make_unique<Recorder>(*bed_, db_,
                                           std::vector<std::string>{"--audit-webhook", "127.0.0.1:0", "--insecure-http", "--audit-grace", "1"});
    // an allowed exec into a pod on no node this recorder covers
    auto ghost = call("ghost-0001", "mallory", {"/bin/sh"}, now_ns() - 10'000 * kMs);
    ghost.ns = "payments";
    ghost.pod = "api-7f9c";
    auto denied = call("denied-0001", "intern", {"/bin/sh"}, now_ns());
    ASSERT_EQ(post({audit_stage(ghost, "ResponseStarted", ghost.received_ns + 20 * kMs, 101),
                    audit_stage(ghost, "ResponseComplete", ghost.received_ns + 900 * kMs, 101),
                    audit_stage(denied, "ResponseComplete", denied.received_ns + kMs, 403)})
                  .status,
              200);
    auto by_state = [&](const std::string& state) {
        return json::parse(run({execaudit_bin(), "audit-events", "--db", db_, "--state", state, "--format", "json"}).out);
    };
    ASSERT_TRUE(eventually([&] { return by_state("unrecorded").size() == 1; }));
    json u = by_state("unrecorded")[0];
    EXPECT_EQ(u["user"], "mallory");
    EXPECT_EQ(u["namespace"], "payments");
    EXPECT_EQ(u["command"], json::array({"/bin/sh"}));
    json d = by_state("denied");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0]["user"], "intern");
    EXPECT_EQ(d[0]["response_code"], 403);
    EXPECT_EQ(d[0]["authz_decision"], "forbid");
    auto table = run({execaudit_bin(), "audit-events", "--db", db_, "--state", "unrecorded"});
    EXPECT_NE(table.out.find("mallory"), std::string::npos);
    EXPECT_EQ(run({execaudit_bin(), "audit-events", "--db", db_, "--state", "bogus"}).exit_code, 2);
    EXPECT_EQ(recorder_->stop(), 0);
}

TEST_F(Attribution, AdmissionWebhookForManagedClusters) {
    // A managed cluster's API server presents no client certificate to admission webhooks: the
    // listener is HTTPS without client certificates, by explicit choice, and what it hears is a claim.
    pki_ = std::make_unique<TestPki>(dir_.path());
    recorder_ = std::make_unique<Recorder>(
        *bed_, db_,
        std::vector<std::string>{"--admission-webhook", "127.0.0.1:0", "--tls-cert", pki_->server_cert, "--tls-key", pki_->server_key,
                                 "--admission-unverified", "--audit-grace", "2"});
    std::string url = "https://127.0.0.1:" + std::to_string(logged_port(recorder_->log(), "admission webhook")) + "/validate";
    std::vector<std::string> tls = {"--cacert", pki_->ca};
    auto c = call("", "eve", {"/bin/bash", "--norc"}, now_ns());
    auto answer = curl_post(url, admission_review("7b1c0d2e-0000-4000-8000-000000000001", c), dir_.path(), tls);
    ASSERT_EQ(answer.status, 200) << answer.body;
    json review = json::parse(answer.body);
    EXPECT_EQ(review["kind"], "AdmissionReview");
    EXPECT_EQ(review["response"]["uid"], "7b1c0d2e-0000-4000-8000-000000000001");
    EXPECT_EQ(review["response"]["allowed"], true);
    session("eve-1", c.command, "eve-was-here");
    // named once no rival session can start any more (the kubelet's 30 s stream setup bound)
    ASSERT_TRUE(eventually([&] { return session_with("").value("attribution", "") == "admission"; }, 60s))
        << list_sessions(db_).dump(2) << recorder_->log();
    json s = session_with("");
    EXPECT_EQ(s["user"], "eve");
    EXPECT_EQ(s["user_unverified"], true) << s.dump(2);
    auto table = run({execaudit_bin(), "sessions", "--db", db_});
    EXPECT_NE(table.out.find("eve (unverified)"), std::string::npos) << table.out;
    // the request's own verdict is a separate write, which may land a commit after the session's
    RunResult shown;
    EXPECT_TRUE(eventually([&] {
        shown = run({execaudit_bin(), "show", s["id"], "--db", db_});
        return shown.out.find("UNVERIFIED") != std::string::npos;
    })) << shown.out;
    EXPECT_EQ(curl_post(url, "{\"kind\":\"AdmissionReview\"}", dir_.path(), tls).status, 400);
    EXPECT_EQ(recorder_->stop(), 0);
}

TEST_F(Attribution, BadWebhookConfigurationIsRefused) {
    auto run_record = [&](std::vector<std::string> args) {
        std::vector<std::string> argv = {execaudit_bin(), "record", "--db", db_, "--cgroup-root", bed_->cgroup_root()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, 30s);
    };
    auto no_key = run_record({"--audit-webhook", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem"});
    EXPECT_EQ(no_key.exit_code, 2);
    EXPECT_NE(no_key.err.find("--tls-key"), std::string::npos) << no_key.err;
    auto bad_addr = run_record({"--audit-webhook", "not-an-address"});
    EXPECT_EQ(bad_addr.exit_code, 2);
    EXPECT_NE(bad_addr.err.find("ADDR:PORT"), std::string::npos) << bad_addr.err;
    auto missing_cert = run_record({"--audit-webhook", "127.0.0.1:0", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key",
                                    "--client-ca", "/nonexistent-ca.pem"});
    EXPECT_EQ(missing_cert.exit_code, 2);
    EXPECT_NE(missing_cert.err.find("/nonexistent.pem"), std::string::npos) << missing_cert.err;
    // authenticated by default: no plain HTTP unless asked, never on a reachable address unless
    // asked twice, and no HTTPS without client certificates for the audit webhook
    auto plain = run_record({"--audit-webhook", "127.0.0.1:0"});
    EXPECT_EQ(plain.exit_code, 2);
    EXPECT_NE(plain.err.find("--insecure-http"), std::string::npos) << plain.err;
    auto reachable = run_record({"--audit-webhook", "0.0.0.0:0", "--insecure-http"});
    EXPECT_EQ(reachable.exit_code, 2);
    EXPECT_NE(reachable.err.find("--insecure-http-any-address"), std::string::npos) << reachable.err;
    auto no_ca = run_record({"--audit-webhook", "127.0.0.1:0", "--tls-cert", "/x.pem", "--tls-key", "/x.key"});
    EXPECT_EQ(no_ca.exit_code, 2);
    EXPECT_NE(no_ca.err.find("--client-ca"), std::string::npos) << no_ca.err;
}

}  // namespace
