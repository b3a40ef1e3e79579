#include "export/syslog_url.h"

#include "common/text.h"

#include <fmt/format.h>

#include <charconv>

namespace execaudit::exporting {

std::string SyslogUrl::text() const {
    bool v6 = host.find(':') != std::string::npos;
    return fmt::format("{}://{}{}{}:{}", tls ? "tls" : "tcp", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

std::expected<SyslogUrl, std::string> parse_syslog_url(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return std::unexpected(fmt::format("'{}' is not a syslog destination: {} (expected tcp://HOST:PORT or "
                                           "tls://HOST:PORT)", terminal_safe(text), why));
    };
    SyslogUrl url;
    std::string_view rest;
    if (text.starts_with("tcp://")) rest = text.substr(6);
    else if (text.starts_with("tls://")) rest = text.substr(6), url.tls = true;
    else if (text.starts_with("udp://")) return bad("UDP loses messages silently; use tcp:// or tls://");
    else return bad("unknown scheme");
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    std::string_view port_text;
    if (rest.starts_with("[")) {
        size_t close = rest.find(']');
        if (close == std::string_view::npos) return bad("unclosed [ in the IPv6 address");
        url.host = std::string(rest.substr(1, close - 1));
        rest = rest.substr(close + 1);
        if (!rest.starts_with(":")) return bad("no :PORT");
        port_text = rest.substr(1);
    } else {
        size_t colon = rest.rfind(':');
        if (colon == std::string_view::npos) return bad("no :PORT");
        url.host = std::string(rest.substr(0, colon));
        port_text = rest.substr(colon + 1);
        if (url.host.find(':') != std::string::npos) return bad("an IPv6 address needs brackets ([::1]:6514)");
    }
    if (url.host.empty()) return bad("no host");
    for (char c : url.host)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':' || c == '%'))
            return bad("the host has characters no host name has");
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535)
        return bad("the port must be a number from 1 to 65535");
    url.port = static_cast<uint16_t>(port);
    return url;
}

}  // namespace execaudit::exporting
