#pragma once
// One connection to a syslog server over TCP or TLS. Non-blocking underneath, with deadlines on
// every call, so a server that stops reading never hangs the exporter. A syslog server never
// answers; what the connection can still tell is whether the peer's TCP stack has acknowledged
// every byte (SIOCOUTQ) and whether the peer closed.

#include "common/unique_fd.h"
#include "export/syslog_url.h"
#include "net/tls_context.h"

#include <chrono>
#include <expected>
#include <string>
#include <string_view>

namespace execaudit::exporting {

class SyslogConnection {
public:
    using Clock = std::chrono::steady_clock;

    /// Resolves, connects and (with `tls_context`) completes the TLS handshake, verifying the
    /// server's certificate against the host name or IP address in `url`. The error says which
    /// step failed ("connection refused", "certificate verify failed", ...).
    static std::expected<SyslogConnection, std::string> connect(const SyslogUrl& url, SSL_CTX* tls_context,
                                                               Clock::time_point deadline);

    SyslogConnection(SyslogConnection&&) noexcept = default;
    SyslogConnection& operator=(SyslogConnection&&) noexcept = default;

    /// Writes every byte, or fails (peer gone, deadline passed).
    std::expected<void, std::string> write_all(std::string_view bytes, Clock::time_point deadline);
    /// Fails when the peer has closed or reset the connection. Never blocks.
    std::expected<void, std::string> check_alive();
    /// Bytes written but not yet acknowledged by the peer's TCP stack.
    std::expected<size_t, std::string> unacknowledged_bytes() const;
    /// Ends the stream (TLS close_notify, then FIN) and waits until the server closes its side,
    /// which it does only after reading everything before it: proof of delivery to the server.
    std::expected<void, std::string> close_gracefully(Clock::time_point deadline);

private:
    SyslogConnection() = default;
    std::expected<void, std::string> wait(short events, Clock::time_point deadline, std::string_view what);
    std::expected<void, std::string> handshake(const SyslogUrl& url, SSL_CTX* ctx, Clock::time_point deadline);

    UniqueFd fd_;
    net::SslPtr ssl_;  ///< declared after fd_: freed before the socket closes
    std::string peer_;
};

}  // namespace execaudit::exporting
