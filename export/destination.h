#pragma once
// Where an exporter sends records. The exporter reads the outbox, hands batches to its
// destination, and persists the position the destination reports as delivered; everything after
// that position is sent again after a failure or a restart (at-least-once).

#include "execaudit.pb.h"

#include <cstdint>
#include <expected>
#include <span>
#include <string>

namespace execaudit::exporting {

class Destination {
public:
    virtual ~Destination() = default;

    /// Names the destination in logs and in the export cursor ("syslog tls://siem:6514").
    virtual const std::string& name() const = 0;
    /// Connects or opens. Called again after a failure, with backoff.
    virtual std::expected<void, std::string> open() = 0;
    /// Sends a batch (records in outbox order) that covers the outbox up to `upto` (entries whose
    /// session is gone have no record). An error means the destination is gone: the exporter
    /// closes it and later resends everything after confirmed().
    virtual std::expected<void, std::string> send(std::span<const v1::ExportRecord> records, int64_t upto) = 0;
    /// Called often, also when idle: notices a lost peer (error) and advances what is confirmed.
    virtual std::expected<void, std::string> poll() = 0;
    /// Every record up to this outbox position is delivered.
    virtual int64_t confirmed() const = 0;
    /// True while too much is sent but unconfirmed: the exporter waits instead of sending more.
    virtual bool window_full() const { return false; }
    /// Everything sent is to be confirmed before this returns (or the error says why not).
    virtual std::expected<void, std::string> finish() = 0;
    /// Drops the connection or file after a failure (unconfirmed records are sent again).
    virtual void close() = 0;
    /// Starts from this confirmed position (the persisted cursor).
    virtual void reset_to(int64_t position) = 0;
};

}  // namespace execaudit::exporting
