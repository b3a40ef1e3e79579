#include "export/syslog_destination.h"

#include "common/errors.h"
#include "export/syslog_url.h"

namespace execaudit::exporting {
using namespace net;  // HttpHandler, TlsOptions, Metric: the shared network edge (net/)

SyslogDestination::Options syslog_options(const std::string& flag, const std::string& url_text, TlsOptions tls,
                                          JsonStyle style) {
    auto url = parse_syslog_url(url_text);
    if (!url) throw UsageError(flag + ": " + url.error());
    if (!url->tls && (!tls.ca_file.empty() || !tls.cert_file.empty() || !tls.key_file.empty()))
        throw UsageError(flag + "-ca/-cert/-key need a tls:// destination");
    SyslogDestination::Options o;
    o.url = *url;
    o.tls = std::move(tls);
    o.format.style = style;
    return o;
}

SyslogDestination::SyslogDestination(Options options)
    : options_(std::move(options)), name_("syslog " + options_.url.text()) {
    if (options_.url.tls) tls_ = make_client_context(options_.tls);
}

std::expected<void, std::string> SyslogDestination::open() {
    auto c = SyslogConnection::connect(options_.url, tls_.get(),
                                       std::chrono::steady_clock::now() + options_.connect_timeout);
    if (!c) return std::unexpected(c.error());
    connection_.emplace(std::move(*c));
    return {};
}

std::expected<void, std::string> SyslogDestination::send(std::span<const v1::ExportRecord> records, int64_t upto) {
    if (!connection_) return std::unexpected(name_ + " is not connected");
    std::string frames;
    for (const auto& r : records) frames += octet_counted(syslog_message(r, options_.format));
    if (auto w = connection_->write_all(frames, std::chrono::steady_clock::now() + options_.send_timeout); !w) return w;
    unconfirmed_.push_back({upto, records.size(), std::nullopt});
    unconfirmed_records_ += records.size();
    return {};
}

std::expected<void, std::string> SyslogDestination::poll() {
    if (!connection_) return std::unexpected(name_ + " is not connected");
    if (auto alive = connection_->check_alive(); !alive) return alive;
    if (unconfirmed_.empty()) return {};
    auto now = std::chrono::steady_clock::now();
    auto queued = connection_->unacknowledged_bytes();
    if (!queued) return std::unexpected(queued.error());
    if (*queued == 0)
        for (auto& s : unconfirmed_)
            if (!s.acked_at) s.acked_at = now;
    while (!unconfirmed_.empty() && unconfirmed_.front().acked_at && now - *unconfirmed_.front().acked_at >= options_.settle) {
        confirmed_ = unconfirmed_.front().position;
        unconfirmed_records_ -= unconfirmed_.front().records;
        unconfirmed_.pop_front();
    }
    return {};
}

std::expected<void, std::string> SyslogDestination::finish() {
    if (!connection_) return unconfirmed_.empty() ? std::expected<void, std::string>{} : std::unexpected(name_ + " is not connected");
    auto closed = connection_->close_gracefully(std::chrono::steady_clock::now() + options_.send_timeout);
    connection_.reset();
    if (!closed) {
        unconfirmed_.clear();
        unconfirmed_records_ = 0;
        return closed;
    }
    if (!unconfirmed_.empty()) confirmed_ = unconfirmed_.back().position;
    unconfirmed_.clear();
    unconfirmed_records_ = 0;
    return {};
}

void SyslogDestination::close() {
    connection_.reset();
    unconfirmed_.clear();
    unconfirmed_records_ = 0;
}

void SyslogDestination::reset_to(int64_t position) {
    close();
    confirmed_ = position;
}

}  // namespace execaudit::exporting
