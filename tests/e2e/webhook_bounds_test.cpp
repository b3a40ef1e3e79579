// What webhook input costs the real recorder, measured (VmRSS / VmHWM of the process): unfinished
// 31 MiB bodies on many connections, a 31 MiB body of [0,0,...], a flood of future-dated
// requests; and that recording goes on meanwhile. EXECAUDIT_BOUNDS_SCALE=10 runs the issue's
// full sizes (400k requests); the default keeps CI short.
#include "tests/support/audit_fixtures.h"
#include "tests/support/node_test.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

using namespace execaudit::testing;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

long status_kb(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
    return -1;
}

int scale() {
    const char* env = std::getenv("EXECAUDIT_BOUNDS_SCALE");
    return env ? std::max(1, std::atoi(env)) : 1;
}

class WebhookBounds : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"curl"}; }
    tcp::endpoint webhook() {
        return tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(logged_port(recorder_->log(), "audit webhook")));
    }
    long rss_mb() { return status_kb(recorder_->pid(), "VmRSS") / 1024; }
    long peak_mb() { return status_kb(recorder_->pid(), "VmHWM") / 1024; }
};

TEST_F(WebhookBounds, HostileBodiesCostBoundedMemoryAndRecordingGoesOn) {
    recorder_ = std::make_unique<Recorder>(*bed_, db_, std::vector<std::string>{"--audit-webhook", "127.0.0.1:0", "--insecure-http"});
    asio::io_context io;
    long base = rss_mb();

    // 20 unfinished 31 MiB bodies, each on its own connection
    constexpr size_t kBody = 31u << 20;
    std::string chunk(1 << 20, ' ');
    std::vector<std::unique_ptr<tcp::socket>> uploads;
    for (int i = 0; i < 20; ++i) {
        auto s = std::make_unique<tcp::socket>(io);
        s->connect(webhook());
        boost::system::error_code ec;
        asio::write(*s, asio::buffer("POST /audit HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n"), ec);
        for (size_t sent = 0; !ec && sent + chunk.size() < kBody; sent += chunk.size()) asio::write(*s, asio::buffer(chunk), ec);
        uploads.push_back(std::move(s));
    }
    long unfinished = rss_mb();
    uploads.clear();

    // one 31 MiB body of [0,0,...] inside an EventList
    std::string zeros = "{\"kind\":\"EventList\",\"items\":[0";
    zeros.reserve(kBody + 64);
    while (zeros.size() + 2 < kBody) zeros += ",0";
    zeros += "]}";
    auto r = curl_post("http://127.0.0.1:" + std::to_string(webhook().port()) + "/audit", zeros, dir_.path());
    EXPECT_EQ(r.status, 200) << r.body;
    long after_zeros_peak = peak_mb();

    // future-dated requests: 40k (400k with EXECAUDIT_BOUNDS_SCALE=10), 400 per batch
    size_t flood = 40'000u * static_cast<size_t>(scale());
    ExecCall c;
    c.ns = "shop";
    c.pod = "web-7f9c";
    c.container = "app";
    c.command = {"/bin/sh"};
    c.received_ns = now_ns() + 86'400'000'000'000LL * 365;  // a year ahead
    tcp::socket keep(io);
    keep.connect(webhook());
    std::string reply;
    for (size_t sent = 0; sent < flood;) {
        std::vector<nlohmann::json> items;
        for (int i = 0; i < 400 && sent < flood; ++i, ++sent) {
            c.audit_id = "future-" + std::to_string(sent);
            items.push_back(audit_stage(c, "ResponseStarted", c.received_ns, 101));
        }
        std::string body = event_list(items);
        asio::write(keep, asio::buffer("POST /audit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n" + body));
        char buf[4096];
        size_t n = keep.read_some(asio::buffer(buf));
        reply.assign(buf, n);
        ASSERT_NE(reply.find(" 200 "), std::string::npos) << reply;
    }
    ASSERT_TRUE(eventually([&] { return recorder_->log().find("stored, not correlated") != std::string::npos; }));
    long after_flood = rss_mb();

    // recording went on, and still does
    PtyProcess shell(bed_->exec_tty(container_, "after-1", {"/bin/sh"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    ASSERT_TRUE(run_in(shell, "seq 1 20000 | tail -1"));
    shell.type("exit\r");
    ASSERT_EQ(shell.wait(20s), 0);
    ASSERT_TRUE(eventually([&] { return list_sessions(db_).size() == 1 && list_sessions(db_)[0]["status"] == "ended"; }));
    EXPECT_NE(play_cat(db_, list_sessions(db_)[0]["id"]).find("20000"), std::string::npos);

    std::cout << "[ bounds ] RSS MB: base " << base << ", 20 unfinished 31 MiB bodies " << unfinished << ", peak after a 31 MiB [0,0,...] "
              << after_zeros_peak << ", after " << flood << " future-dated requests " << after_flood << "\n";
    EXPECT_LT(unfinished - base, 120);       // the bodies in flight are bounded (64 MiB), not 20 x 31 MiB
    EXPECT_LT(after_zeros_peak - base, 200);  // scanned, not parsed into 16M values
    EXPECT_LT(after_flood - base, 200);       // nothing future-dated is held
    EXPECT_EQ(recorder_->stop(), 0);
}

}  // namespace
