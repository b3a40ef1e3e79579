#include "net/http_server.h"

#include "common/errors.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <openssl/x509v3.h>

#include <charconv>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace execaudit::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kFailureWindow = std::chrono::seconds(10);

std::string asn1_text(const ASN1_STRING* s) {
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n < 0) return {};
    std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    return out;
}

std::string subject_of(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio) return {};
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n > 0 ? n : 0));
    BIO_free(bio);
    return out;
}

/// Every name `--client-subject` may match: the RFC 2253 subject, each CN, each DNS, URI,
/// email and IP subject alternative name.
std::vector<std::string> names_of(X509* cert) {
    std::vector<std::string> names{subject_of(cert)};
    X509_NAME* subject = X509_get_subject_name(cert);
    for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;)
        names.push_back(asn1_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i))));
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS || g->type == GEN_URI || g->type == GEN_EMAIL) {
            names.push_back(asn1_text(g->d.ia5));
        } else if (g->type == GEN_IPADD) {
            char buf[INET6_ADDRSTRLEN] = {};
            int len = ASN1_STRING_length(g->d.ip);
            const unsigned char* p = ASN1_STRING_get0_data(g->d.ip);
            if (len == 4 || len == 16) {
                inet_ntop(len == 4 ? AF_INET : AF_INET6, p, buf, sizeof(buf));
                names.emplace_back(buf);
            }
        }
    }
    GENERAL_NAMES_free(sans);
    return names;
}

}  // namespace

HttpResponse make_response(http::status status, std::string body, std::string content_type) {
    HttpResponse r{status, 11};
    r.set(http::field::server, "execaudit");
    r.set(http::field::content_type, content_type);
    r.body() = std::move(body);
    return r;
}

HttpResponse retry_later(http::status status, int seconds, std::string why) {
    auto r = make_response(status, std::move(why) + "\n");
    r.set(http::field::retry_after, std::to_string(seconds));
    return r;
}

std::pair<std::string, uint16_t> parse_listen_address(const std::string& listen, const std::string& flag) {
    size_t colon = listen.rfind(':');
    if (colon == std::string::npos)
        throw UsageError(fmt::format("{} {}: expected ADDR:PORT (e.g. 0.0.0.0:8443 or :8443)", flag, listen));
    std::string host = listen.substr(0, colon);
    std::string port_text = listen.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty() || host == "*") host = "0.0.0.0";
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535)
        throw UsageError(fmt::format("{} {}: '{}' is not a port number", flag, listen, port_text));
    return {host, static_cast<uint16_t>(port)};
}

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
    HttpServerOptions options;
    HttpHandler handler;
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
    tcp::acceptor acceptor{io};
    std::optional<asio::ssl::context> tls;
    asio::steady_timer retry{io};    ///< after a failed accept (out of file descriptors, ...)
    asio::steady_timer summary{io};  ///< rate-limited failure logs
    std::thread thread;
    bool accept_failing = false;

    // Counters (read from any thread).
    std::atomic<uint64_t> accepted{0}, refused{0}, handshakes_failed{0}, requests{0}, over_budget{0}, too_large{0};
    std::atomic<size_t> open_connections{0};
    std::atomic<size_t> body_bytes{0};

    // Server thread only.
    std::string last_refusal;  ///< why the verify callback refused the newest certificate
    struct Failures {
        uint64_t in_window = 0;
        std::string last;
        bool timer_armed = false;
    };
    std::map<std::string, Failures> failures;  ///< by kind: "TLS handshake", "connection"
    struct Open {
        std::weak_ptr<void> alive;
        std::function<void()> close;
    };
    std::vector<Open> connections;  ///< closed by stop()

    Impl(HttpServerOptions o, HttpHandler h) : options(std::move(o)), handler(std::move(h)) {}

    bool reserve_body(size_t bytes) {
        size_t now = body_bytes.load();
        do {
            if (now + bytes > options.max_body_bytes_in_flight && now > 0) return false;
        } while (!body_bytes.compare_exchange_weak(now, now + bytes));
        return true;
    }
    void release_body(size_t bytes) { body_bytes -= bytes; }

    /// The first failure of a kind in a window is logged in full, the rest as one counted line
    /// when the window ends: a port scan or a misconfigured client cannot flood the log.
    void note_failure(const std::string& kind, std::string what) {
        auto& f = failures[kind];
        if (f.in_window++ == 0) log::warn("{}: {} refused: {}", options.name, kind, what);
        f.last = std::move(what);
        if (f.timer_armed) return;
        f.timer_armed = true;
        summary.expires_after(kFailureWindow);
        summary.async_wait([self = shared_from_this()](beast::error_code ec) {
            if (!ec) self->flush_failures();
        });
    }
    void flush_failures() {
        for (auto& [k, fail] : failures) {
            if (fail.in_window > 1)
                log::warn("{}: {} more {} refusals in the last {} s (the last: {})", options.name, fail.in_window - 1, k,
                          kFailureWindow.count(), fail.last);
            fail = Failures{};
        }
    }

    void accept();
    void configure_tls();
};

namespace {

// One connection: (TLS handshake,) read a request's header, reserve its body, read the body,
// hand it to the handler, write its response, repeat while the client keeps it alive.
template <typename Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
public:
    Connection(Stream stream, std::shared_ptr<HttpServer::Impl> server, std::string address)
        : stream_(std::move(stream)), server_(std::move(server)) {
        peer_.address = std::move(address);
        ++server_->open_connections;
    }
    ~Connection() {
        release();
        --server_->open_connections;
    }

    void start() {
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
            read_header();
        } else {
            beast::get_lowest_layer(stream_).expires_after(server_->options.handshake_timeout);
            stream_.async_handshake(asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
                self->on_handshake(ec);
            });
        }
    }

    void close() {
        beast::error_code ec;
        beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(stream_).socket().close(ec);
    }

private:
    void on_handshake(beast::error_code ec) {
        if constexpr (!std::is_same_v<Stream, beast::tcp_stream>) {
            if (ec) {
                std::string why = server_->last_refusal.empty() ? ec.message() : server_->last_refusal;
                server_->last_refusal.clear();
                ++server_->handshakes_failed;
                server_->note_failure("TLS handshake", fmt::format("{} from {}", why, peer_.address));
                return;
            }
            if (server_->options.tls && server_->options.tls->clients) {
                if (X509* cert = SSL_get1_peer_certificate(stream_.native_handle())) {
                    peer_.authenticated = true;  // verified by OpenSSL and by the names callback
                    peer_.subject = subject_of(cert);
                    X509_NAME* name = X509_get_subject_name(cert);
                    for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0;)
                        peer_.common_names.push_back(asn1_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i))));
                    X509_free(cert);
                }
            }
        }
        read_header();
    }

    void read_header() {
        parser_.emplace();
        parser_->header_limit(16 * 1024);
        parser_->body_limit(server_->options.body_limit);
        beast::get_lowest_layer(stream_).expires_after(server_->options.request_timeout);  // header and body together
        http::async_read_header(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
            self->on_header(ec);
        });
    }

    void on_header(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof) return close();
        if (ec == http::error::body_limit) {  // a declared length over the limit: refused before its body
            ++server_->too_large;
            return write(make_response(http::status::payload_too_large,
                                       fmt::format("body over the {} byte limit\n", server_->options.body_limit)),
                         false);
        }
        if (ec) return fail(ec);
        ++server_->requests;
        // Reserve what the body will take before reading it, so that slow or abandoned uploads
        // cannot add up beyond the bound: over it, 503 now (the sender retries later).
        auto length = parser_->content_length();
        size_t want = length ? static_cast<size_t>(std::min<uint64_t>(*length, SIZE_MAX)) : parser_->chunked() ? server_->options.body_limit : 0;
        if (want > server_->options.body_limit) {
            ++server_->too_large;
            return write(make_response(http::status::payload_too_large,
                                       fmt::format("body over the {} byte limit\n", server_->options.body_limit)),
                         false);
        }
        if (!server_->reserve_body(want)) {
            ++server_->over_budget;
            return write(retry_later(http::status::service_unavailable, 2, "too many request bodies in flight; retry"), false);
        }
        reserved_ = want;
        http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec2, size_t) {
            self->on_read(ec2);
        });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::body_limit) {
            ++server_->too_large;
            release();
            return write(make_response(http::status::payload_too_large,
                                       fmt::format("body over the {} byte limit\n", server_->options.body_limit)),
                         false);
        }
        if (ec) return fail(ec);
        HttpRequest request = parser_->release();
        parser_.reset();
        bool keep_alive = request.keep_alive();
        auto self = this->shared_from_this();
        auto answered = std::make_shared<std::atomic<bool>>(false);
        Respond respond = [self, keep_alive, answered](HttpResponse response) {
            if (answered->exchange(true)) return;  // once
            auto exec = self->stream_.get_executor();
            asio::post(exec, [self, keep_alive, response = std::move(response)]() mutable {
                self->write(std::move(response), keep_alive);
            });
        };
        try {
            server_->handler(request, peer_, respond);
        } catch (const std::exception& e) {  // a handler's bug must not end the server's thread
            log::error("{}: handler failed: {}", server_->options.name, e.what());
            respond(make_response(http::status::internal_server_error, "internal error\n"));
        }
        release();  // the handler has what it needs of the body
    }

    void fail(beast::error_code ec) {
        release();
        if (ec == beast::error::timeout || ec == asio::error::operation_aborted) return close();
        write(make_response(http::status::bad_request, "malformed HTTP request: " + ec.message() + "\n"), false);
    }

    void release() {
        if (reserved_) server_->release_body(reserved_);
        reserved_ = 0;
    }

    void write(HttpResponse response, bool keep_alive) {
        response.keep_alive(keep_alive);
        response.prepare_payload();
        auto shared = std::make_shared<HttpResponse>(std::move(response));
        beast::get_lowest_layer(stream_).expires_after(server_->options.request_timeout);
        http::async_write(stream_, *shared, [self = this->shared_from_this(), shared, keep_alive](beast::error_code ec, size_t) {
            if (ec || !keep_alive) return self->close();
            self->read_header();
        });
    }

    Stream stream_;
    std::shared_ptr<HttpServer::Impl> server_;  // a connection keeps its server's loop alive
    PeerInfo peer_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    size_t reserved_ = 0;
};

}  // namespace

void HttpServer::Impl::accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            beast::error_code addr_ec;
            auto remote = socket.remote_endpoint(addr_ec);
            std::string address = addr_ec ? "?" : fmt::format("{}:{}", remote.address().to_string(), remote.port());
            if (self->open_connections >= self->options.max_connections) {
                ++self->refused;
                self->note_failure("connection", fmt::format("from {}: over {} connections", address, self->options.max_connections));
                socket.close(addr_ec);
            } else {
                ++self->accepted;
                std::erase_if(self->connections, [](const Open& c) { return c.alive.expired(); });
                auto track = [&](auto c) {
                    self->connections.push_back(Open{c, [w = std::weak_ptr(c)] {
                                                         if (auto live = w.lock()) live->close();
                                                     }});
                    c->start();
                };
                if (self->tls) {
                    using TlsStream = beast::ssl_stream<beast::tcp_stream>;
                    track(std::make_shared<Connection<TlsStream>>(TlsStream(beast::tcp_stream(std::move(socket)), *self->tls), self,
                                                                  address));
                } else {
                    track(std::make_shared<Connection<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), self, address));
                }
            }
        }
        if (!self->acceptor.is_open()) return;
        if (ec) {
            // The connection still waits in the backlog, so accepting again at once would spin:
            // log once, retry shortly.
            if (!self->accept_failing) log::error("{}: cannot accept a connection: {}", self->options.name, ec.message());
            self->accept_failing = true;
            self->retry.expires_after(std::chrono::milliseconds(100));
            self->retry.async_wait([self](beast::error_code wait_ec) {
                if (!wait_ec && self->acceptor.is_open()) self->accept();
            });
            return;
        }
        if (self->accept_failing) log::info("{}: accepting connections again", self->options.name);
        self->accept_failing = false;
        self->accept();
    });
}

void HttpServer::Impl::configure_tls() {
    auto& o = options;
    tls.emplace(asio::ssl::context::tls_server);
    auto& ctx = *tls;
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                    asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    try {
        ctx.use_certificate_chain_file(o.tls->cert_file);
    } catch (const std::exception& e) {
        throw UsageError(fmt::format("{}: cannot load --tls-cert {}: {}", o.name, o.tls->cert_file, e.what()));
    }
    try {
        ctx.use_private_key_file(o.tls->key_file, asio::ssl::context::pem);
    } catch (const std::exception& e) {
        throw UsageError(fmt::format("{}: cannot load --tls-key {}: {}", o.name, o.tls->key_file, e.what()));
    }
    if (!o.tls->clients) return;
    const ClientTrust& trust = *o.tls->clients;
    try {
        ctx.load_verify_file(trust.ca_file);
    } catch (const std::exception& e) {
        throw UsageError(fmt::format("{}: cannot load --client-ca {}: {}", o.name, trust.ca_file, e.what()));
    }
    // A client certificate, for client use (a server certificate of the same CA is no client's).
    X509_VERIFY_PARAM_set_purpose(SSL_CTX_get0_param(ctx.native_handle()), X509_PURPOSE_SSL_CLIENT);
    ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    std::set<std::string> allowed(trust.subjects.begin(), trust.subjects.end());
    Impl* self = this;  // the context lives in this Impl
    ctx.set_verify_callback([self, allowed](bool preverified, asio::ssl::verify_context& vc) {
        X509_STORE_CTX* store = vc.native_handle();
        if (!preverified) {
            self->last_refusal = fmt::format("client certificate not accepted ({})",
                                             X509_verify_cert_error_string(X509_STORE_CTX_get_error(store)));
            return false;
        }
        if (X509_STORE_CTX_get_error_depth(store) > 0 || allowed.empty()) return true;
        X509* cert = X509_STORE_CTX_get_current_cert(store);
        for (const auto& n : names_of(cert))
            if (allowed.contains(n)) return true;
        self->last_refusal = fmt::format("client certificate '{}' is signed by the CA but not one of --client-subject", subject_of(cert));
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
        return false;
    });
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(handler))) {
    auto& o = impl_->options;
    auto [host, listen_port] = parse_listen_address(o.listen, o.name);
    beast::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) throw UsageError(fmt::format("{} {}: '{}' is not an IP address", o.name, o.listen, host));
    if (!o.tls) {
        if (!o.plain_http)
            throw UsageError(fmt::format("{} {}: needs TLS (--tls-cert, --tls-key, --client-ca); plain HTTP only with --insecure-http",
                                         o.name, o.listen));
        if (!address.is_loopback() && !o.plain_http_any_address)
            throw UsageError(fmt::format("{} {}: plain HTTP on an address other hosts can reach is refused: anyone who reaches it "
                                         "could post identities. Use TLS with --client-ca, or --insecure-http-any-address",
                                         o.name, o.listen));
    } else if (!o.tls->clients && !o.anonymous_tls) {
        throw UsageError(fmt::format("{} {}: needs --client-ca: without client certificates anyone who reaches it could post "
                                     "identities",
                                     o.name, o.listen));
    }
    if (o.tls) impl_->configure_tls();
    tcp::endpoint endpoint(address, listen_port);
    auto& acc = impl_->acceptor;
    acc.open(endpoint.protocol(), ec);
    if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc.bind(endpoint, ec);
    if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw UsageError(fmt::format("{}: cannot listen on {}: {}", o.name, o.listen, ec.message()));
    impl_->accept();
    std::string mode = !o.tls ? "plain HTTP, anyone who reaches it may post"
                       : !o.tls->clients ? "HTTPS without client certificates: peers are UNVERIFIED"
                       : o.tls->clients->subjects.empty() ? "HTTPS, client certificates of the CA required"
                                                          : "HTTPS, client certificates of the CA with a listed name required";
    log::info("{} listening on {}:{} ({})", o.name, host, this->port(), mode);
    impl_->thread = std::thread([impl = impl_] { impl->io.run(); });
}

HttpServer::~HttpServer() { stop(); }

uint16_t HttpServer::port() const {
    beast::error_code ec;
    auto ep = impl_->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

void HttpServer::stop() {
    if (!impl_->thread.joinable()) return;
    asio::post(impl_->io, [impl = impl_] {
        beast::error_code ec;
        impl->acceptor.close(ec);
        impl->retry.cancel();
        impl->summary.cancel();
        impl->flush_failures();
        for (auto& c : impl->connections) c.close();
        impl->connections.clear();
        impl->work.reset();
    });
    impl_->thread.join();
}

HttpServerStats HttpServer::stats() const {
    return HttpServerStats{impl_->accepted, impl_->refused, impl_->handshakes_failed, impl_->requests, impl_->over_budget,
                           impl_->too_large};
}

}  // namespace execaudit::net
