// The webhook listener as an attacker meets it: real certificates (openssl), real clients (curl,
// raw sockets). Unauthenticated and wrongly named peers never reach a handler; the bounds hold.
#include "common/errors.h"
#include "net/http_server.h"
#include "tests/support/audit_fixtures.h"
#include "tests/support/process.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fcntl.h>
#include <unistd.h>

using namespace execaudit::net;
using namespace execaudit::testing;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Seen {
    std::atomic<int> calls{0};
    std::mutex mutex;
    PeerInfo last;
};

HttpHandler recording(Seen& seen) {
    return [&seen](const HttpRequest&, const PeerInfo& peer, Respond respond) {
        ++seen.calls;
        {
            std::lock_guard lock(seen.mutex);
            seen.last = peer;
        }
        respond(make_response(http::status::ok, "ok\n"));
    };
}

class HttpServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        EA_REQUIRE(missing_program("openssl"));
        EA_REQUIRE(missing_program("curl"));
    }
    TestPki& pki() {
        if (!pki_) pki_ = std::make_unique<TestPki>(dir_.path());
        return *pki_;
    }
    HttpServerOptions mtls(std::vector<std::string> subjects = {}) {
        HttpServerOptions o{.name = "audit webhook", .listen = "127.0.0.1:0"};
        o.tls = TlsFiles{pki().server_cert, pki().server_key, ClientTrust{pki().ca, std::move(subjects)}};
        return o;
    }
    CurlResult post(const HttpServer& s, std::vector<std::string> tls, bool https = true) {
        return curl_post((https ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(s.port()) + "/audit", "{}",
                         dir_.path(), std::move(tls));
    }
    std::vector<std::string> as(const std::string& cert, const std::string& key) {
        return {"--cacert", pki().ca, "--cert", cert, "--key", key};
    }
    TempDir dir_;
    std::unique_ptr<TestPki> pki_;
};

TEST_F(HttpServerTest, OnlyTheListedClientCertificateGetsIn) {
    Seen seen;
    HttpServer server(mtls({"kube-apiserver"}), recording(seen));
    // no certificate, another CA's, and the right CA's with another name (a kubelet's): refused
    EXPECT_NE(post(server, {"--cacert", pki().ca}).exit_code, 0);
    EXPECT_NE(post(server, as(pki().rogue_cert, pki().rogue_key)).exit_code, 0);
    EXPECT_NE(post(server, as(pki().node_cert, pki().node_key)).exit_code, 0);
    EXPECT_NE(post(server, {}, false).status, 200);  // plain HTTP to the TLS port
    EXPECT_EQ(seen.calls, 0);
    EXPECT_GE(server.stats().handshakes_failed, 3u);
    // the API server's: in, and the handler knows it is authenticated
    auto ok = post(server, as(pki().client_cert, pki().client_key));
    EXPECT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(seen.calls, 1);
    std::lock_guard lock(seen.mutex);
    EXPECT_TRUE(seen.last.authenticated);
    EXPECT_EQ(seen.last.subject, "CN=kube-apiserver");
}

TEST_F(HttpServerTest, WithoutSubjectsAnyCertificateOfTheCa) {
    Seen seen;
    HttpServer server(mtls(), recording(seen));
    EXPECT_EQ(post(server, as(pki().node_cert, pki().node_key)).status, 200);
    EXPECT_NE(post(server, as(pki().rogue_cert, pki().rogue_key)).exit_code, 0);
    EXPECT_EQ(seen.calls, 1);
}

TEST_F(HttpServerTest, TrustIsChosenNotDefaulted) {
    Seen seen;
    // plain HTTP: only when asked, and on loopback unless asked again
    EXPECT_THROW(HttpServer(HttpServerOptions{.name = "w", .listen = "127.0.0.1:0"}, recording(seen)), execaudit::UsageError);
    EXPECT_THROW(HttpServer(HttpServerOptions{.name = "w", .listen = "0.0.0.0:0", .plain_http = true}, recording(seen)),
                 execaudit::UsageError);
    HttpServer loopback(HttpServerOptions{.name = "w", .listen = "127.0.0.1:0", .plain_http = true}, recording(seen));
    HttpServer any(HttpServerOptions{.name = "w", .listen = "0.0.0.0:0", .plain_http = true, .plain_http_any_address = true},
                   recording(seen));
    // TLS without client certificates: only when asked, and its peers are not authenticated
    HttpServerOptions anon{.name = "admission webhook", .listen = "127.0.0.1:0"};
    anon.tls = TlsFiles{pki().server_cert, pki().server_key, std::nullopt};
    EXPECT_THROW(HttpServer(anon, recording(seen)), execaudit::UsageError);
    anon.anonymous_tls = true;
    HttpServer unverified(anon, recording(seen));
    EXPECT_EQ(post(unverified, {"--cacert", pki().ca}).status, 200);
    std::lock_guard lock(seen.mutex);
    EXPECT_FALSE(seen.last.authenticated);
}

std::string read_all(tcp::socket& s) {
    std::string out;
    boost::system::error_code ec;
    char buf[4096];
    for (;;) {
        size_t n = s.read_some(asio::buffer(buf), ec);
        if (ec) break;
        out.append(buf, n);
    }
    return out;
}

TEST_F(HttpServerTest, ConnectionsAndBodiesInFlightAreBounded) {
    Seen seen;
    HttpServerOptions o{.name = "w", .listen = "127.0.0.1:0", .plain_http = true, .body_limit = 8u << 20, .max_connections = 4,
                        .max_body_bytes_in_flight = 16u << 20};
    HttpServer server(o, recording(seen));
    asio::io_context io;
    tcp::endpoint at(asio::ip::make_address("127.0.0.1"), server.port());
    // a declared body over the limit: 413 before a byte of it is read
    tcp::socket big(io);
    big.connect(at);
    asio::write(big, asio::buffer(std::string("POST /audit HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n")));
    std::string refused = read_all(big);
    EXPECT_NE(refused.find("413"), std::string::npos) << refused;
    // two unfinished 8 MiB uploads take the whole budget: a third body gets 503 Retry-After at once
    std::vector<std::unique_ptr<tcp::socket>> uploads;
    for (int i = 0; i < 2; ++i) {
        auto s = std::make_unique<tcp::socket>(io);
        s->connect(at);
        asio::write(*s, asio::buffer(std::string("POST /audit HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n[0,0,0")));
        uploads.push_back(std::move(s));
    }
    ASSERT_TRUE(eventually([&] { return server.stats().requests >= 2; }));
    tcp::socket third(io);
    third.connect(at);
    asio::write(third, asio::buffer(std::string("POST /audit HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")));
    std::string answer = read_all(third);
    EXPECT_NE(answer.find("503"), std::string::npos) << answer;
    EXPECT_NE(answer.find("Retry-After: 2"), std::string::npos) << answer;
    // connections beyond the limit are closed at once, and counted
    std::vector<std::unique_ptr<tcp::socket>> idle;
    for (int i = 0; i < 4; ++i) {
        auto s = std::make_unique<tcp::socket>(io);
        s->connect(at);
        idle.push_back(std::move(s));
    }
    ASSERT_TRUE(eventually([&] { return server.stats().connections_refused >= 1; })) << server.stats().connections;
    EXPECT_EQ(seen.calls, 0);
    uploads.clear();
    idle.clear();
    // once they are gone, requests get through again
    ASSERT_TRUE(eventually([&] { return curl_post("http://127.0.0.1:" + std::to_string(server.port()) + "/x", "{}", dir_.path()).status == 200; }));
}

TEST_F(HttpServerTest, SlowClientsTimeOut) {
    Seen seen;
    HttpServerOptions o{.name = "w", .listen = "127.0.0.1:0", .plain_http = true};
    o.request_timeout = std::chrono::milliseconds(300);
    HttpServer server(o, recording(seen));
    asio::io_context io;
    tcp::socket slow(io);
    slow.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
    asio::write(slow, asio::buffer(std::string("POST /audit HTTP/1.1\r\nHost: x\r\nContent-Len")));
    auto t0 = std::chrono::steady_clock::now();
    read_all(slow);  // returns when the server closes it
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    EXPECT_EQ(seen.calls, 0);
}

// A port scan or a misconfigured client: thousands of failed handshakes make a few log lines.
TEST_F(HttpServerTest, HandshakeFailuresAreCountedNotEachLogged) {
    std::string log_file = dir_.file("stderr.log");
    int saved = dup(2);
    int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    ::close(fd);
    {
        Seen seen;
        HttpServer server(mtls({"kube-apiserver"}), recording(seen));
        asio::io_context io;
        for (int i = 0; i < 200; ++i) {
            tcp::socket s(io);
            s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
            asio::write(s, asio::buffer(std::string("GET / HTTP/1.1\r\n\r\n")));
            read_all(s);
        }
        ASSERT_TRUE(eventually([&] { return server.stats().handshakes_failed >= 200; }));
    }
    dup2(saved, 2);
    ::close(saved);
    std::string text = read_file(log_file);
    size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
    EXPECT_LE(lines, 4u) << text;
    EXPECT_NE(text.find("TLS handshake refused"), std::string::npos) << text;
    EXPECT_NE(text.find("199 more TLS handshake refusals"), std::string::npos) << text;
}

}  // namespace
