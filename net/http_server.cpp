#include "net/http_server.h"

#include "common/errors.h"
#include "common/log.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>

#include <charconv>

namespace execaudit::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIoTimeout = std::chrono::seconds(30);

// One connection: read a request, hand it to the handler, write its response, repeat while the
// client keeps the connection alive. Stream is beast::tcp_stream or an ssl_stream over one.
template <typename Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
public:
    Connection(Stream stream, HttpServerOptions options, HttpHandler handler)
        : stream_(std::move(stream)), options_(options), handler_(std::move(handler)) {}

    void start() {
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
            read();
        } else {
            beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
            stream_.async_handshake(asio::ssl::stream_base::server,
                                    [self = this->shared_from_this()](beast::error_code ec) {
                                        if (ec) {
                                            log::warn("{}: TLS handshake refused: {}", self->options_.name, ec.message());
                                            return;
                                        }
                                        self->read();
                                    });
        }
    }

private:
    void read() {
        parser_.emplace();
        parser_->body_limit(options_.body_limit);
        beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
        http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
            self->on_read(ec);
        });
    }

    void on_read(beast::error_code ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof) return close();
        if (ec == http::error::body_limit) {
            write(make_response(http::status::payload_too_large,
                                fmt::format("body over the {} byte limit\n", options_.body_limit)),
                  false);
            return;
        }
        if (ec) {
            if (ec != beast::error::timeout && ec != asio::error::operation_aborted)
                write(make_response(http::status::bad_request, "malformed HTTP request: " + ec.message() + "\n"), false);
            return;
        }
        HttpRequest request = parser_->release();
        bool keep_alive = request.keep_alive();
        auto self = this->shared_from_this();
        bool answered = false;
        handler_(request, [self, keep_alive, answered](HttpResponse response) mutable {
            if (answered) return;  // once
            answered = true;
            self->write(std::move(response), keep_alive);
        });
    }

    void write(HttpResponse response, bool keep_alive) {
        response.keep_alive(keep_alive);
        response.prepare_payload();
        auto shared = std::make_shared<HttpResponse>(std::move(response));
        beast::get_lowest_layer(stream_).expires_after(kIoTimeout);
        http::async_write(stream_, *shared, [self = this->shared_from_this(), shared, keep_alive](beast::error_code ec, size_t) {
            if (ec || !keep_alive) return self->close();
            self->read();
        });
    }

    void close() {
        beast::error_code ec;
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
            stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        } else {
            beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
        }
    }

    Stream stream_;
    HttpServerOptions options_;  // a copy: a connection may outlive its server
    HttpHandler handler_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

HttpResponse make_response(http::status status, std::string body, std::string content_type) {
    HttpResponse r{status, 11};
    r.set(http::field::server, "execaudit");
    r.set(http::field::content_type, content_type);
    r.body() = std::move(body);
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
    asio::io_context& io;
    HttpServerOptions options;
    HttpHandler handler;
    tcp::acceptor acceptor;
    std::optional<asio::ssl::context> tls;

    asio::steady_timer retry;  ///< after a failed accept (out of file descriptors, ...)
    bool accept_failing = false;

    Impl(asio::io_context& io_, HttpServerOptions opts, HttpHandler h)
        : io(io_), options(std::move(opts)), handler(std::move(h)), acceptor(io_), retry(io_) {}

    void accept() {
        acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted) return;
            if (!ec) {
                if (self->tls) {
                    using TlsStream = beast::ssl_stream<beast::tcp_stream>;
                    std::make_shared<Connection<TlsStream>>(TlsStream(beast::tcp_stream(std::move(socket)), *self->tls),
                                                            self->options, self->handler)
                        ->start();
                } else {
                    std::make_shared<Connection<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), self->options,
                                                                    self->handler)
                        ->start();
                }
            }
            if (!self->acceptor.is_open()) return;
            if (ec) {
                // The connection still waits in the backlog, so accepting again at once would spin
                // on the loop that also drains the kernel's ring buffer: log once, retry shortly.
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
};

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(handler))) {
    auto& o = impl_->options;
    auto [host, listen_port] = parse_listen_address(o.listen, o.name);
    if (o.tls) {
        impl_->tls.emplace(asio::ssl::context::tls_server);
        auto& ctx = *impl_->tls;
        ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
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
        if (!o.tls->client_ca_file.empty()) {
            try {
                ctx.load_verify_file(o.tls->client_ca_file);
            } catch (const std::exception& e) {
                throw UsageError(fmt::format("{}: cannot load --client-ca {}: {}", o.name, o.tls->client_ca_file, e.what()));
            }
            ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
        }
    }
    beast::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) throw UsageError(fmt::format("{} {}: '{}' is not an IP address", o.name, o.listen, host));
    tcp::endpoint endpoint(address, listen_port);
    auto& acc = impl_->acceptor;
    acc.open(endpoint.protocol(), ec);
    if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc.bind(endpoint, ec);
    if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw UsageError(fmt::format("{}: cannot listen on {}: {}", o.name, o.listen, ec.message()));
    impl_->accept();
    log::info("{} listening on {}:{} ({})", o.name, host, this->port(),
              !o.tls ? "plain HTTP" : o.tls->client_ca_file.empty() ? "HTTPS" : "HTTPS, client certificates required");
}

HttpServer::~HttpServer() { stop(); }

uint16_t HttpServer::port() const {
    beast::error_code ec;
    auto ep = impl_->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

void HttpServer::stop() {
    beast::error_code ec;
    if (impl_->acceptor.is_open()) impl_->acceptor.close(ec);
    impl_->retry.cancel();
}

}  // namespace execaudit::net
