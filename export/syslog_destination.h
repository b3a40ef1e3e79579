#pragma once
// `--export-syslog tcp://HOST:PORT | tls://HOST:PORT`: RFC 5424 messages, octet-counted.
//
// Plain syslog has no acknowledgements, so "delivered" is inferred, conservatively: a batch is
// confirmed once the server's TCP stack has acknowledged every byte of it (SIOCOUTQ is 0) and
// the connection then stayed up for `settle` (the server had time to read it from its socket).
// If the connection breaks first, everything unconfirmed is sent again: duplicates, never loss,
// and a duplicate carries the same record_id. finish() proves delivery outright: it closes the
// stream and waits for the server to close its side, which it does after reading everything.

#include "export/destination.h"
#include "export/syslog_connection.h"
#include "export/syslog_format.h"

#include <chrono>
#include <deque>
#include <optional>

namespace execaudit::exporting {

class SyslogDestination final : public Destination {
public:
    struct Options {
        SyslogUrl url;
        net::TlsOptions tls;
        SyslogFormat format;
        std::chrono::milliseconds connect_timeout{10'000};
        std::chrono::milliseconds send_timeout{30'000};
        std::chrono::milliseconds settle{2'000};
        size_t max_unconfirmed_records = 5'000;  ///< bounds what a failure sends twice
    };

    /// Throws UsageError when the TLS files cannot be loaded (checked at start-up).
    explicit SyslogDestination(Options options);

    const std::string& name() const override { return name_; }
    std::expected<void, std::string> open() override;
    std::expected<void, std::string> send(std::span<const v1::ExportRecord> records, int64_t upto) override;
    std::expected<void, std::string> poll() override;
    int64_t confirmed() const override { return confirmed_; }
    bool window_full() const override { return unconfirmed_records_ >= options_.max_unconfirmed_records; }
    std::expected<void, std::string> finish() override;
    void close() override;
    void reset_to(int64_t position) override;

private:
    struct Sent {
        int64_t position;
        size_t records;
        std::optional<std::chrono::steady_clock::time_point> acked_at;
    };

    Options options_;
    std::string name_;
    net::SslCtxPtr tls_;
    std::optional<SyslogConnection> connection_;
    std::deque<Sent> unconfirmed_;
    size_t unconfirmed_records_ = 0;
    int64_t confirmed_ = 0;
};

/// The options for a destination given on the command line (`record --export-syslog`, `export
/// --syslog`): the URL parsed, and TLS files only with tls://. Throws UsageError naming `flag`.
SyslogDestination::Options syslog_options(const std::string& flag, const std::string& url, net::TlsOptions tls, JsonStyle style);

}  // namespace execaudit::exporting
