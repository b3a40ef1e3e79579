#include "recorder/upload/https_client.h"

#include "common/errors.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <openssl/x509v3.h>

#include <charconv>

namespace execaudit::recorder {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::string HttpsUrl::text() const {
    bool v6 = host.find(':') != std::string::npos;
    return fmt::format("https://{}{}{}:{}{}", v6 ? "[" : "", host, v6 ? "]" : "", port, path);
}

HttpsUrl parse_https_url(const std::string& url, const std::string& flag) {
    constexpr std::string_view kScheme = "https://";
    if (url.rfind(kScheme, 0) != 0)
        throw UsageError(fmt::format("{} {}: give https://HOST:PORT (uploads are always TLS with a client certificate)", flag, url));
    std::string rest = url.substr(kScheme.size());
    HttpsUrl u;
    size_t slash = rest.find('/');
    if (slash != std::string::npos) {
        u.path = rest.substr(slash);
        rest = rest.substr(0, slash);
        while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
    }
    std::string port;
    if (!rest.empty() && rest[0] == '[') {
        size_t close = rest.find(']');
        if (close == std::string::npos) throw UsageError(fmt::format("{} {}: an unclosed [", flag, url));
        u.host = rest.substr(1, close - 1);
        if (close + 1 < rest.size()) {
            if (rest[close + 1] != ':') throw UsageError(fmt::format("{} {}: expected :PORT after ]", flag, url));
            port = rest.substr(close + 2);
        }
    } else {
        size_t colon = rest.rfind(':');
        u.host = rest.substr(0, colon);
        if (colon != std::string::npos) port = rest.substr(colon + 1);
    }
    if (u.host.empty() || u.host.find('@') != std::string::npos)
        throw UsageError(fmt::format("{} {}: no host (give https://HOST:PORT)", flag, url));
    if (!port.empty()) {
        unsigned v = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
        if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535)
            throw UsageError(fmt::format("{} {}: '{}' is not a port", flag, url, port));
        u.port = static_cast<uint16_t>(v);
    }
    return u;
}

namespace {
asio::ssl::context make_context(const net::TlsOptions& tls) {
    // net/ builds the context (TLS 1.2+, peer verification, the client certificate); asio takes it over.
    return asio::ssl::context(net::make_client_context(tls).release());
}

bool is_ip(const std::string& host) {
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    return !ec;
}
}  // namespace

HttpsClient::HttpsClient(HttpsUrl url, const net::TlsOptions& tls, std::chrono::milliseconds timeout)
    : url_(std::move(url)), timeout_(timeout), ctx_(make_context(tls)) {}

HttpsClient::~HttpsClient() { close(); }

template <typename Start>
boost::system::error_code HttpsClient::await(Start start) {
    boost::system::error_code result = asio::error::would_block;
    start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run();
    return result;
}

void HttpsClient::close() {
    if (!stream_) return;
    boost::system::error_code ec;
    beast::get_lowest_layer(*stream_).socket().close(ec);
    stream_.reset();
    io_.restart();
    io_.poll();
}

std::expected<void, std::string> HttpsClient::connect() {
    asio::ip::tcp::resolver resolver(io_);
    asio::ip::tcp::resolver::results_type endpoints;
    auto ec = await([&](auto handler) {
        resolver.async_resolve(url_.host, std::to_string(url_.port),
                               [&endpoints, handler](boost::system::error_code e, asio::ip::tcp::resolver::results_type r) mutable {
                                   endpoints = std::move(r);
                                   handler(e);
                               });
    });
    if (ec) return std::unexpected(fmt::format("cannot resolve {}: {}", url_.host, ec.message()));
    auto stream = std::make_unique<Stream>(io_, ctx_);
    beast::get_lowest_layer(*stream).expires_after(timeout_);
    ec = await([&](auto handler) { beast::get_lowest_layer(*stream).async_connect(endpoints, handler); });
    if (ec) return std::unexpected(fmt::format("cannot connect to {}: {}", url_.text(), ec.message()));
    SSL* ssl = stream->native_handle();
    if (is_ip(url_.host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url_.host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl, url_.host.c_str());
        SSL_set1_host(ssl, url_.host.c_str());
    }
    beast::get_lowest_layer(*stream).expires_after(timeout_);
    ec = await([&](auto handler) { stream->async_handshake(asio::ssl::stream_base::client, handler); });
    if (ec) {
        long verify = SSL_get_verify_result(ssl);
        std::string why = verify != X509_V_OK ? fmt::format("the server's certificate was rejected: {}", X509_verify_cert_error_string(verify))
                                              : ec.message();
        return std::unexpected(fmt::format("TLS handshake with {} failed: {}", url_.text(), why));
    }
    stream_ = std::move(stream);
    buffer_.clear();
    return {};
}

std::expected<HttpsClient::Response, std::string> HttpsClient::post(const std::string& target, const std::string& body,
                                                                    const std::string& content_type) {
    // A kept-alive connection the server closed meanwhile fails at once: then once more, fresh.
    for (int attempt = 0; attempt < 2; ++attempt) {
        bool reused = stream_ != nullptr;
        if (!stream_)
            if (auto c = connect(); !c) return std::unexpected(c.error());
        http::request<http::string_body> req{http::verb::post, url_.path + target, 11};
        req.set(http::field::host, url_.host);
        req.set(http::field::content_type, content_type);
        req.set(http::field::user_agent, "execaudit-record");
        req.keep_alive(true);
        req.body() = body;
        req.prepare_payload();
        beast::get_lowest_layer(*stream_).expires_after(timeout_);
        auto ec = await([&](auto handler) { http::async_write(*stream_, req, handler); });
        http::response_parser<http::string_body> parser;
        parser.body_limit(1u << 20);
        if (!ec) {
            beast::get_lowest_layer(*stream_).expires_after(timeout_);
            ec = await([&](auto handler) { http::async_read(*stream_, buffer_, parser, handler); });
        }
        if (ec) {
            close();
            if (reused && attempt == 0 && (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                                           ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated))
                continue;
            return std::unexpected(fmt::format("POST {}{}: {}", url_.text(), target, ec.message()));
        }
        auto res = parser.release();
        Response out;
        out.status = static_cast<int>(res.result_int());
        out.body = std::move(res.body());
        if (auto it = res.find(http::field::retry_after); it != res.end()) {
            int v = 0;
            auto s = it->value();
            std::from_chars(s.data(), s.data() + s.size(), v);
            out.retry_after_s = std::clamp(v, 0, 300);
        }
        if (!res.keep_alive()) close();
        return out;
    }
    return std::unexpected("unreachable");
}

}  // namespace execaudit::recorder
