#pragma once
// Where syslog goes: tcp://HOST:PORT (RFC 6587) or tls://HOST:PORT (RFC 5425). HOST is a name,
// an IPv4 address or a bracketed IPv6 address ([::1]).

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace execaudit::exporting {

struct SyslogUrl {
    bool tls = false;
    std::string host;
    uint16_t port = 0;
    /// "tcp://host:port" as given (normalized), for logs and the export cursor's name.
    std::string text() const;
};

/// Parses a --syslog / --export-syslog value; the error says what is wrong and what would do.
std::expected<SyslogUrl, std::string> parse_syslog_url(std::string_view text);

}  // namespace execaudit::exporting
