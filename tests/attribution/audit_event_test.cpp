// The API server's audit events, from the real-format fixtures and from hostile bodies.
#include "attribution/audit_event.h"
#include "tests/support/environment.h"

#include <gtest/gtest.h>

#include <sstream>

using namespace execaudit::attribution;
using execaudit::testing::read_file;

namespace {

std::string fixture(const std::string& name) { return read_file(std::string(EXECAUDIT_SOURCE_DIR) + "/tests/fixtures/audit/" + name); }

std::vector<AuditEvent> parse_log(const std::string& text) {
    std::vector<AuditEvent> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto e = parse_audit_log_line(line);
        EXPECT_TRUE(e) << e.error();
        if (e && *e) out.push_back(**e);
    }
    return out;
}

TEST(AuditEvent, SpdyTtyExecInThreeStages) {
    auto events = parse_log(fixture("exec-spdy-tty.log"));
    ASSERT_EQ(events.size(), 3u);
    const auto& e = events[1];
    EXPECT_EQ(e.audit_id, "927fcde7-74e5-4a57-af53-dceacefaf47c");
    EXPECT_EQ(e.stage, "ResponseStarted");
    EXPECT_EQ(e.verb, "create");
    EXPECT_EQ(e.target.kind, "exec");
    EXPECT_EQ(e.target.namespace_name, "wareville");
    EXPECT_EQ(e.target.pod, "morality-checker");
    EXPECT_EQ(e.target.container, "kubectl-container");
    EXPECT_EQ(e.target.command, std::vector<std::string>{"/bin/sh"});
    EXPECT_TRUE(e.target.tty);
    EXPECT_TRUE(e.target.stdin);
    EXPECT_EQ(e.identity.user, "mayor-malware");
    EXPECT_EQ(e.identity.groups, (std::vector<std::string>{"example", "system:authenticated"}));
    EXPECT_EQ(e.identity.source_ips, std::vector<std::string>{"192.168.49.1"});
    EXPECT_EQ(e.identity.user_agent, "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625");
    EXPECT_EQ(e.identity.decision, "allow");
    EXPECT_NE(e.identity.reason.find("mayor-user-binding"), std::string::npos);
    EXPECT_EQ(e.response_code, 101);
    EXPECT_EQ(e.received_ns, 1'730'204'504'189'258'000);
    EXPECT_EQ(e.stage_ns, 1'730'204'504'214'173'000);
    EXPECT_EQ(events[0].response_code, 0);  // RequestReceived has no response yet
}

TEST(AuditEvent, WebSocketWithoutTtyAndExtra) {
    auto events = parse_log(fixture("exec-websocket-notty.log"));
    ASSERT_EQ(events.size(), 1u);
    const auto& e = events[0];
    EXPECT_EQ(e.verb, "get");
    EXPECT_EQ(e.target.command, (std::vector<std::string>{"cat", "/etc/resolv.conf"}));
    EXPECT_EQ(e.target.container, "coredns");
    EXPECT_FALSE(e.target.tty);
    EXPECT_FALSE(e.target.stdin);
    EXPECT_NE(e.identity.extra_json.find("credential-id"), std::string::npos);
    EXPECT_EQ(e.identity.groups[0], "system:masters");
}

TEST(AuditEvent, ForbiddenAttempt) {
    auto events = parse_log(fixture("exec-forbidden.log"));
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].response_code, 403);
    EXPECT_EQ(events[1].identity.decision, "forbid");
    EXPECT_NE(events[1].response_message.find("forbidden"), std::string::npos);
}

TEST(AuditEvent, WebhookEventListSkipsOtherTraffic) {
    auto list = parse_event_list(fixture("webhook-eventlist.json"));
    ASSERT_TRUE(list) << list.error();
    EXPECT_EQ(list->skipped, 1u);  // the configmap update
    EXPECT_TRUE(list->errors.empty());
    ASSERT_EQ(list->events.size(), 3u);
    std::set<std::string> stages;
    for (const auto& e : list->events) {
        EXPECT_EQ(e.audit_id, "927fcde7-74e5-4a57-af53-dceacefaf47c");
        stages.insert(e.stage);
    }
    EXPECT_EQ(stages, (std::set<std::string>{"RequestReceived", "ResponseStarted", "ResponseComplete"}));
}

TEST(AuditEvent, RequestUriDecoding) {
    auto d = decode_request_uri(
        "/api/v1/namespaces/pay/pods/api-0/exec?command=sh&command=-c&command=echo+%22a%26b%22+%3E%3E%2Ftmp%2Fx&container=app&stdin=true&tty=false");
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(d->namespace_name, "pay");
    EXPECT_EQ(d->pod, "api-0");
    EXPECT_EQ(d->subresource, "exec");
    EXPECT_EQ(d->command, (std::vector<std::string>{"sh", "-c", "echo \"a&b\" >>/tmp/x"}));
    EXPECT_EQ(d->container, "app");
    EXPECT_TRUE(d->stdin);
    EXPECT_FALSE(d->tty);
    auto no_container = decode_request_uri("/api/v1/namespaces/a/pods/b/exec?command=ls");
    ASSERT_TRUE(no_container);
    EXPECT_EQ(no_container->container, "");  // the pod's only container
    // a bad escape drops its pair, as Go's url.ParseQuery does (crafted-queries.jsonl has more)
    auto bad = decode_request_uri("/api/v1/namespaces/a/pods/b/exec?command=%zz&command=ls");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->command, std::vector<std::string>{"ls"});
    EXPECT_EQ(bad->dropped_pairs, 1u);
}

TEST(AuditEvent, HostileBodiesGiveErrorsNotCrashes) {
    EXPECT_FALSE(parse_event_list(""));
    EXPECT_FALSE(parse_event_list("{\"kind\":\"EventList\",\"items\":["));            // truncated
    EXPECT_FALSE(parse_event_list("{\"kind\":\"Pod\"}"));                            // not an EventList
    EXPECT_FALSE(parse_event_list("{\"kind\":\"EventList\",\"items\":\"x\"}"));     // wrong type
    EXPECT_FALSE(parse_event_list(std::string(200000, '[') + std::string(200000, ']')));  // deep nesting
    EXPECT_FALSE(parse_event_list("{\"kind\":\"EventList\",\"items\":[{\"subresource\":\"exec\",\"x\":\"\xff\xfe\"}]}")->errors.empty());  // invalid UTF-8
    EXPECT_FALSE(parse_event_list("[0,0,0]"));                                                  // not an object
    EXPECT_FALSE(parse_event_list("{\"kind\":\"EventList\",\"items\":[0,0,}"));              // broken structure

    // exec-like items with wrong types: errors for those items, the rest still parsed
    std::string body = R"({"kind":"EventList","items":[
        {"auditID":5,"objectRef":{"resource":"pods","subresource":"exec"}},
        {"auditID":"a","stage":"RequestReceived","objectRef":{"resource":"pods","subresource":"exec","namespace":"n","name":"p"},
         "requestURI":42,"user":"not an object","sourceIPs":"nope","requestReceivedTimestamp":"2024-10-29T12:21:44Z"},
        {"auditID":"b","objectRef":{"resource":"pods","subresource":"exec","namespace":"n","name":"p"},
         "requestReceivedTimestamp":"yesterday"},
        "a string item",
        {"objectRef":{"resource":"configmaps"}}]})";
    auto list = parse_event_list(body);
    ASSERT_TRUE(list) << list.error();
    EXPECT_EQ(list->errors.size(), 2u);  // no auditID, bad timestamp
    ASSERT_EQ(list->events.size(), 1u);  // wrong-typed fields are ignored, not trusted
    EXPECT_EQ(list->events[0].identity.user, "");
    EXPECT_EQ(list->skipped, 2u);  // the string item and the configmap, without a parse

    // a 10 MB line: parsed or refused, never a crash; an unrelated one is skipped cheaply
    std::string huge = R"({"auditID":"h","objectRef":{"resource":"pods","subresource":"exec","namespace":"n","name":"p"},"requestURI":"/x?command=)" +
                       std::string(10 << 20, 'a') + R"(","requestReceivedTimestamp":"2024-10-29T12:21:44Z"})";
    EXPECT_FALSE(parse_audit_log_line(huge));  // a requestURI no API server sends (its request line is at most 1 MiB)
    std::string long_uri = R"({"auditID":"h","objectRef":{"resource":"pods","subresource":"exec","namespace":"n","name":"p"},"requestURI":"/x?command=)" +
                           std::string(1 << 20, 'a') + R"(","requestReceivedTimestamp":"2024-10-29T12:21:44Z"})";
    auto h = parse_audit_log_line(long_uri);
    ASSERT_TRUE(h) << h.error();
    ASSERT_TRUE(*h);
    EXPECT_EQ((*h)->target.command.at(0).size(), 1u << 20);
    auto other = parse_audit_log_line(R"({"kind":"Event","objectRef":{"resource":"secrets"}})");
    ASSERT_TRUE(other);
    EXPECT_FALSE(*other);
    EXPECT_FALSE(parse_audit_log_line("{\"subresource\":\"exec\", truncated"));
}

}  // namespace
