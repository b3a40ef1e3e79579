#pragma once
// A small HTTP/1.1 server (Boost.Beast) on a thread of its own, so that receiving and parsing
// request bodies never stalls the loop that drains the kernel's ring buffer. The audit webhook,
// the admission webhook and /metrics are handlers on it; the node agent and the collector use it.
//
// Trust is per listener: mutual TLS against a CA, optionally restricted to certificate names
// (the API server's client certificate); TLS without client certificates only when asked (a
// managed cluster's admission webhook: its peers are unauthenticated and handlers are told so);
// plain HTTP only when asked, and then on loopback only unless asked again.
// Bounded: connections, bytes of bodies in flight, time per handshake and per request; over a
// bound a request gets 503 with Retry-After (the API server's webhook backend retries).
// Handlers run on the server's thread; `respond` may be called once, from any thread.

#include <boost/asio/post.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::net {

/// Who may connect to a TLS listener with a client certificate.
struct ClientTrust {
    std::string ca_file;                ///< client certificates must chain to this CA (PEM)
    std::vector<std::string> subjects;  ///< and carry one of these names (CN, DNS/URI/email/IP SAN, or the
                                        ///< RFC 2253 subject); empty: any certificate the CA signed
};

struct TlsFiles {
    std::string cert_file;
    std::string key_file;
    std::optional<ClientTrust> clients;  ///< nullopt: no client certificates (needs anonymous_tls)
};

struct HttpServerOptions {
    std::string name;     ///< for logs and errors ("audit webhook")
    std::string listen;   ///< ADDR:PORT ("127.0.0.1:8443", ":8443", "[::1]:0")
    std::optional<TlsFiles> tls;        ///< nullopt: plain HTTP (needs plain_http)
    bool plain_http = false;            ///< --insecure-http: allowed, on loopback addresses only...
    bool plain_http_any_address = false;  ///< ... unless this too (--insecure-http-any-address)
    bool anonymous_tls = false;         ///< TLS without client certificates: peers are unauthenticated
    size_t body_limit = 32u << 20;      ///< larger bodies get 413
    size_t max_connections = 64;        ///< more are closed at once (counted)
    size_t max_body_bytes_in_flight = 64u << 20;  ///< bodies being received, all connections together
    std::chrono::milliseconds handshake_timeout{10'000};
    std::chrono::milliseconds request_timeout{30'000};  ///< a whole request: headers and body
};

/// The other end of a request, as the listener established it.
struct PeerInfo {
    std::string address;
    bool authenticated = false;  ///< a client certificate verified against the listener's CA and names
    std::string subject;         ///< that certificate's subject (RFC 2253)
    std::vector<std::string> common_names;  ///< its subject's CNs (a node's name: the collector wants exactly one)
};

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
using Respond = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(const HttpRequest&, const PeerInfo&, Respond)>;

/// The same handler, run on `executor` (e.g. the recorder's loop, where its counters live).
template <typename Executor>
HttpHandler on_executor(Executor executor, HttpHandler handler);

/// A response with a text or JSON body.
HttpResponse make_response(boost::beast::http::status status, std::string body,
                           std::string content_type = "text/plain; charset=utf-8");
/// 503 (or 429) with Retry-After, which kube-apiserver's webhook backend honours by retrying.
HttpResponse retry_later(boost::beast::http::status status, int seconds, std::string why);

/// What a listener refused, counted.
struct HttpServerStats {
    uint64_t connections = 0;            ///< accepted
    uint64_t connections_refused = 0;    ///< over max_connections
    uint64_t handshakes_failed = 0;      ///< TLS: no certificate, wrong CA, unlisted name, not TLS...
    uint64_t requests = 0;
    uint64_t requests_over_budget = 0;   ///< 503: bodies in flight over the bound
    uint64_t bodies_too_large = 0;       ///< 413
};

class HttpServer {
public:
    /// Binds and starts serving on a thread of its own. Throws UsageError for a bad address, a
    /// port in use, TLS files that cannot be loaded, or a trust the options do not allow.
    HttpServer(HttpServerOptions options, HttpHandler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    uint16_t port() const;
    /// Stops accepting, closes every connection, joins the thread.
    void stop();
    HttpServerStats stats() const;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

template <typename Executor>
HttpHandler on_executor(Executor executor, HttpHandler handler) {
    return [executor, handler = std::move(handler)](const HttpRequest& request, const PeerInfo& peer, Respond respond) {
        boost::asio::post(executor, [handler, request, peer, respond = std::move(respond)] { handler(request, peer, respond); });
    };
}

/// Splits "ADDR:PORT" ("" or "*" address: all interfaces). Throws UsageError.
std::pair<std::string, uint16_t> parse_listen_address(const std::string& listen, const std::string& flag);

}  // namespace execaudit::net
