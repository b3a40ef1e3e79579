// The requestURI, response code and timestamps as kube-apiserver reads them: a user with exec
// rights chooses every byte of the query, and must not be able to cut the link between their
// identity and their session by a parsing difference.
#include "attribution/audit_event.h"
#include "tests/support/environment.h"

#include <gtest/gtest.h>

#include <sstream>

using namespace execaudit::attribution;
using execaudit::testing::read_file;
using nlohmann::json;

namespace {

std::string fixture(const std::string& name) { return read_file(std::string(EXECAUDIT_SOURCE_DIR) + "/tests/fixtures/audit/" + name); }

TEST(KubeParsing, CraftedQueriesDecodeAsTheApiServerDoes) {
    std::istringstream in(fixture("crafted-queries.jsonl"));
    int n = 0;
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        ++n;
        json c = json::parse(line);
        SCOPED_TRACE(c["why"].get<std::string>());
        auto d = decode_request_uri(c["requestURI"].get<std::string>());
        ASSERT_TRUE(d) << d.error();
        EXPECT_EQ(d->command, c["expect"]["command"].get<std::vector<std::string>>());
        EXPECT_EQ(d->container, c["expect"]["container"].get<std::string>());
        EXPECT_EQ(d->tty, c["expect"]["tty"].get<bool>());
        EXPECT_EQ(d->stdin, c["expect"]["stdin"].get<bool>());
    }
    EXPECT_GE(n, 10);
}

json exec_event(const std::string& uri) {
    return json{{"kind", "Event"},
                {"auditID", "a-1"},
                {"stage", "ResponseComplete"},
                {"requestURI", uri},
                {"verb", "create"},
                {"user", {{"username", "alice"}}},
                {"objectRef", {{"resource", "pods"}, {"namespace", "shop"}, {"name", "web"}, {"subresource", "exec"}}},
                {"responseStatus", {{"code", 101}}},
                {"requestReceivedTimestamp", "2024-10-29T12:21:44.189258Z"},
                {"stageTimestamp", "2024-10-29T12:21:45.189258Z"}};
}

TEST(KubeParsing, AnInvalidEscapeDoesNotDropTheEvent) {
    auto e = parse_audit_event(exec_event("/api/v1/namespaces/shop/pods/web/exec?command=%2Fbin%2Fsh&x=%zz&tty=true"));
    ASSERT_TRUE(e) << e.error();
    ASSERT_TRUE(*e);
    EXPECT_EQ((*e)->target.command, std::vector<std::string>{"/bin/sh"});
    EXPECT_TRUE((*e)->target.tty);
}

TEST(KubeParsing, ResponseCodesBeyond32BitsAreRefusedNotTruncated) {
    auto event = exec_event("/api/v1/namespaces/shop/pods/web/exec?command=sh");
    event["responseStatus"]["code"] = 4294967296LL + 101;  // truncated to 32 bits it would read 101
    auto e = parse_audit_event(event);
    EXPECT_FALSE(e && *e && (*e)->response_code == 101);
    event["responseStatus"]["code"] = 4294967296LL + 403;
    e = parse_audit_event(event);
    EXPECT_FALSE(e && *e && (*e)->response_code == 403);
}

TEST(KubeParsing, TimestampsOutOfRangeAreRefused) {
    auto event = exec_event("/api/v1/namespaces/shop/pods/web/exec?command=sh");
    event["requestReceivedTimestamp"] = "2262-04-12T00:00:00Z";  // past int64 nanoseconds
    EXPECT_FALSE(parse_audit_event(event));
    event["requestReceivedTimestamp"] = "9999-12-31T23:59:59.999999Z";
    EXPECT_FALSE(parse_audit_event(event));
}

}  // namespace
