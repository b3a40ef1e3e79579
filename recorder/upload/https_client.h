#pragma once
// A small HTTPS/1.1 client (Boost.Beast) for one server: keeps its connection alive between
// requests, verifies the server's certificate and name, presents a client certificate (mutual
// TLS through net/'s one TLS-context setup), and bounds every step with a timeout. Blocking:
// it runs on its caller's thread (the uploader's), with an io_context of its own.

#include "net/tls_context.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <expected>
#include <memory>
#include <optional>
#include <string>

namespace execaudit::recorder {

/// https://HOST:PORT[/PATH], split. Throws UsageError (naming `flag`) for anything else.
struct HttpsUrl {
    std::string host;  ///< without brackets for IPv6
    uint16_t port = 443;
    std::string path;  ///< "" or "/prefix" without a trailing slash
    std::string text() const;
};
HttpsUrl parse_https_url(const std::string& url, const std::string& flag);

class HttpsClient {
public:
    struct Response {
        int status = 0;
        std::string body;
        int retry_after_s = 0;  ///< Retry-After in seconds (0: none)
    };

    /// Throws UsageError when the TLS files cannot be loaded.
    HttpsClient(HttpsUrl url, const net::TlsOptions& tls, std::chrono::milliseconds timeout);
    ~HttpsClient();

    /// POSTs `body` to url.path + `target`; reconnects first when needed. The error says what failed.
    std::expected<Response, std::string> post(const std::string& target, const std::string& body,
                                              const std::string& content_type);
    void close();
    bool connected() const { return stream_ != nullptr; }
    const HttpsUrl& url() const { return url_; }

private:
    using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
    std::expected<void, std::string> connect();
    template <typename Start>
    boost::system::error_code await(Start start);

    HttpsUrl url_;
    std::chrono::milliseconds timeout_;
    boost::asio::io_context io_;
    boost::asio::ssl::context ctx_;
    std::unique_ptr<Stream> stream_;
    boost::beast::flat_buffer buffer_;
};

}  // namespace execaudit::recorder
