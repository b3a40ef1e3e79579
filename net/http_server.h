#pragma once
// A small HTTP/1.1 server (Boost.Beast) on the recorder's io_context, with optional TLS and
// client-certificate authentication. The audit webhook, the admission webhook and /metrics
// are handlers on it. Handlers may answer later (after a database commit): `respond` can be
// called once, from the io_context thread, at any time.

#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace execaudit::net {

struct TlsFiles {
    std::string cert_file;
    std::string key_file;
    std::string client_ca_file;  ///< when set, clients must present a certificate signed by it
};

struct HttpServerOptions {
    std::string name;     ///< for logs and errors ("audit webhook")
    std::string listen;   ///< ADDR:PORT ("127.0.0.1:8443", ":8443", "[::1]:0")
    std::optional<TlsFiles> tls;
    size_t body_limit = 32u << 20;  ///< larger bodies get 413
};

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using Respond = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(const HttpRequest&, Respond)>;

/// A response with a text or JSON body.
HttpResponse make_response(boost::beast::http::status status, std::string body,
                           std::string content_type = "text/plain; charset=utf-8");

class HttpServer {
public:
    /// Binds and starts accepting. Throws UsageError for a bad address, a port in use, or TLS
    /// files that cannot be loaded.
    HttpServer(boost::asio::io_context& io, HttpServerOptions options, HttpHandler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    uint16_t port() const;
    void stop();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

/// Splits "ADDR:PORT" ("" or "*" address: all interfaces). Throws UsageError.
std::pair<std::string, uint16_t> parse_listen_address(const std::string& listen, const std::string& flag);

}  // namespace execaudit::net
