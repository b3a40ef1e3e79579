#include "export/syslog_connection.h"

#include <fmt/format.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace execaudit::exporting {
using namespace net;  // HttpHandler, TlsOptions, Metric: the shared network edge (net/)
namespace {

int millis_until(SyslogConnection::Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SyslogConnection::Clock::now());
    return static_cast<int>(std::max<int64_t>(left.count(), 0));
}

struct AddrinfoFree {
    void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};

bool is_ip_address(const std::string& host) {
    in6_addr buf{};
    return inet_pton(AF_INET, host.c_str(), &buf) == 1 || inet_pton(AF_INET6, host.c_str(), &buf) == 1;
}

}  // namespace

std::expected<void, std::string> SyslogConnection::wait(short events, Clock::time_point deadline, std::string_view what) {
    for (;;) {
        pollfd p{fd_.get(), events, 0};
        int timeout = millis_until(deadline);
        int n = ::poll(&p, 1, timeout);
        if (n > 0) return {};
        if (n == 0) return std::unexpected(fmt::format("{}: timed out", what));
        if (errno != EINTR) return std::unexpected(fmt::format("{}: poll: {}", what, std::strerror(errno)));
    }
}

std::expected<SyslogConnection, std::string> SyslogConnection::connect(const SyslogUrl& url, SSL_CTX* ctx,
                                                                       Clock::time_point deadline) {
    // OpenSSL writes to the socket with write(2): a peer that went away must give EPIPE, not kill
    // the process. The recorder and the CLI never rely on SIGPIPE.
    ::signal(SIGPIPE, SIG_IGN);

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* raw = nullptr;
    std::string port = std::to_string(url.port);
    if (int rc = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &raw); rc != 0)
        return std::unexpected(fmt::format("cannot resolve {}: {}", url.host, gai_strerror(rc)));
    std::unique_ptr<addrinfo, AddrinfoFree> list(raw);

    std::string last_error = "no address";
    for (addrinfo* ai = list.get(); ai; ai = ai->ai_next) {
        SyslogConnection c;
        c.peer_ = url.text();
        c.fd_.reset(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
        if (!c.fd_) {
            last_error = std::strerror(errno);
            continue;
        }
        if (::connect(c.fd_.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno != EINPROGRESS) {
                last_error = std::strerror(errno);
                continue;
            }
            if (auto w = c.wait(POLLOUT, deadline, "connect"); !w) {
                last_error = w.error();
                continue;
            }
            int err = 0;
            socklen_t len = sizeof(err);
            getsockopt(c.fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) {
                last_error = std::strerror(err);
                continue;
            }
        }
        int one = 1;
        setsockopt(c.fd_.get(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        if (ctx) {
            if (auto h = c.handshake(url, ctx, deadline); !h) return std::unexpected(h.error());
        }
        return c;
    }
    return std::unexpected(fmt::format("cannot connect to {}: {}", url.text(), last_error));
}

std::expected<void, std::string> SyslogConnection::handshake(const SyslogUrl& url, SSL_CTX* ctx,
                                                             Clock::time_point deadline) {
    ERR_clear_error();
    ssl_.reset(SSL_new(ctx));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1)
        return std::unexpected("TLS: " + openssl_errors());
    if (is_ip_address(url.host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_.get()), url.host.c_str());
    } else {
        SSL_set_tlsext_host_name(ssl_.get(), url.host.c_str());
        SSL_set1_host(ssl_.get(), url.host.c_str());
    }
    for (;;) {
        int rc = SSL_connect(ssl_.get());
        if (rc == 1) return {};
        int err = SSL_get_error(ssl_.get(), rc);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            if (auto w = wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, "TLS handshake with " + url.text()); !w)
                return w;
            continue;
        }
        long verify = SSL_get_verify_result(ssl_.get());
        if (verify != X509_V_OK)
            return std::unexpected(fmt::format("TLS handshake with {}: the server's certificate was rejected: {}",
                                               url.text(), X509_verify_cert_error_string(verify)));
        std::string detail = ERR_peek_error() ? openssl_errors()
                             : err == SSL_ERROR_SYSCALL ? (errno ? std::strerror(errno) : "the server closed the connection")
                                                        : fmt::format("SSL error {}", err);
        return std::unexpected(fmt::format("TLS handshake with {} failed: {}", url.text(), detail));
    }
}

std::expected<void, std::string> SyslogConnection::write_all(std::string_view bytes, Clock::time_point deadline) {
    size_t done = 0;
    while (done < bytes.size()) {
        if (ssl_) {
            ERR_clear_error();
            size_t n = 0;
            int rc = SSL_write_ex(ssl_.get(), bytes.data() + done, bytes.size() - done, &n);
            if (rc == 1) {
                done += n;
                continue;
            }
            int err = SSL_get_error(ssl_.get(), rc);
            if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
                if (auto w = wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, "sending to " + peer_); !w) return w;
                continue;
            }
            return std::unexpected(fmt::format("sending to {}: {}", peer_,
                                               err == SSL_ERROR_SYSCALL ? std::strerror(errno) : openssl_errors()));
        }
        ssize_t n = ::send(fd_.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<size_t>(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (auto w = wait(POLLOUT, deadline, "sending to " + peer_); !w) return w;
        } else {
            return std::unexpected(fmt::format("sending to {}: {}", peer_, std::strerror(errno)));
        }
    }
    return {};
}

std::expected<void, std::string> SyslogConnection::check_alive() {
    pollfd p{fd_.get(), POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return {};
    if (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        return std::unexpected(fmt::format("{} closed the connection{}{}", peer_, err ? ": " : "", err ? std::strerror(err) : ""));
    }
    // Readable: a syslog server sends nothing, except TLS housekeeping (session tickets) or a close.
    char buf[4096];
    if (ssl_) {
        for (;;) {
            ERR_clear_error();
            size_t n = 0;
            int rc = SSL_read_ex(ssl_.get(), buf, sizeof(buf), &n);
            if (rc == 1) continue;  // unexpected application data: ignored
            int err = SSL_get_error(ssl_.get(), rc);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return {};
            if (err == SSL_ERROR_ZERO_RETURN) return std::unexpected(peer_ + " closed the TLS session");
            return std::unexpected(fmt::format("{} closed the connection ({})", peer_,
                                               err == SSL_ERROR_SYSCALL ? (errno ? std::strerror(errno) : "EOF") : openssl_errors()));
        }
    }
    for (;;) {
        ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) continue;
        if (n == 0) return std::unexpected(peer_ + " closed the connection");
        if (errno == EAGAIN || errno == EINTR) return {};
        return std::unexpected(fmt::format("{} closed the connection: {}", peer_, std::strerror(errno)));
    }
}

std::expected<size_t, std::string> SyslogConnection::unacknowledged_bytes() const {
    int queued = 0;
    if (::ioctl(fd_.get(), SIOCOUTQ, &queued) != 0) return std::unexpected(fmt::format("SIOCOUTQ: {}", std::strerror(errno)));
    return static_cast<size_t>(std::max(queued, 0));
}

std::expected<void, std::string> SyslogConnection::close_gracefully(Clock::time_point deadline) {
    if (ssl_) {
        ERR_clear_error();
        SSL_shutdown(ssl_.get());  // sends close_notify; the server's answer is read below
    }
    ::shutdown(fd_.get(), SHUT_WR);
    char buf[4096];
    for (;;) {
        if (auto w = wait(POLLIN, deadline, "waiting for " + peer_ + " to read everything"); !w) return w;
        ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);  // TLS records after ours: discarded
        if (n == 0) return {};
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            // A reset after reading everything is still a close; one before means data may be lost.
            return std::unexpected(fmt::format("{} reset the connection while closing: {}", peer_, std::strerror(errno)));
        }
    }
}

}  // namespace execaudit::exporting
