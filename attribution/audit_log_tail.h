#pragma once
// Follows the API server's audit log (--audit-log-path: one Event per line), like `tail -F`:
// resumes from the stored cursor (even when the file was rotated while the recorder was down,
// by finding the old file by inode), follows rename rotation and copytruncate (noticed by the
// size, or by the bytes before its offset changing), and only ever consumes complete lines.
// Only a regular file is read, opened without blocking; a line over 4 MiB is skipped and
// counted. Polls on the io_context a slice at a time: simple, and works on every filesystem.

#include "attribution/audit_event.h"
#include "storage/records.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::attribution {

class AuditLogTail {
public:
    struct Batch {
        std::vector<AuditEvent> events;
        storage::LogCursorRecord cursor;  ///< the position after the lines these came from
    };
    using Sink = std::function<void(Batch)>;

    AuditLogTail(boost::asio::io_context& io, std::string path, std::optional<storage::LogCursorRecord> resume, Sink sink,
                 std::chrono::milliseconds interval = std::chrono::milliseconds(200));
    void start();
    void stop();
    /// Reads a slice of whatever is new and schedules the next poll (at once while more waits).
    void poll();
    /// While `busy` says so, nothing is read (backpressure from correlation).
    void pause_while(std::function<bool()> busy) { busy_ = std::move(busy); }
    uint64_t lines_too_long() const { return lines_too_long_; }

private:
    bool open_current();
    bool reopen_rotated_original();
    void set_offset(uint64_t offset);
    void remember_consumed(std::string_view consumed);
    /// The bytes before our offset are not those we read: the file was truncated and rewritten.
    bool rewritten() const;
    /// Reads and hands over one slice of what is new; true when more is waiting.
    bool read_available();

    boost::asio::io_context& io_;
    std::string path_;
    std::optional<storage::LogCursorRecord> resume_;
    Sink sink_;
    std::chrono::milliseconds interval_;
    boost::asio::steady_timer timer_;
    int fd_ = -1;
    uint64_t inode_ = 0;
    uint64_t offset_ = 0;        ///< after the last complete line consumed
    bool discarding_ = false;    ///< inside a line too long to keep: skip to its end
    bool running_ = false;
    std::string warned_;         ///< the last reason the path could not be opened (logged once)
    std::string check_;          ///< the last bytes before offset_, as read
    uint64_t lines_too_long_ = 0;
    std::function<bool()> busy_;
    std::string buf_;  ///< reused: a slice is up to kReadPerPoll bytes
};

}  // namespace execaudit::attribution
