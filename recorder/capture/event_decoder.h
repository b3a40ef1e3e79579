#pragma once
// Turns raw ring-buffer records (bpf/events.h) into validated, typed events. Every length is
// checked against the record's size: a malformed record is an error, never an overread.
// Views point into the record bytes and live as long as they do.

#include "events.h"

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace execaudit::recorder {

struct ExecEvent {
    ea_header hdr;
    uint64_t task_start_ns;
    uint64_t parent_cgroup_id;
    uint32_t ppid, uid, gid, ns_pid;
    std::string_view comm, parent_comm, filename;
    std::vector<std::string_view> argv;
    bool session_start() const { return hdr.flags & EA_EXEC_SESSION_START; }
    bool stdio_tty() const { return hdr.flags & EA_EXEC_STDIO_TTY; }
    bool argv_truncated() const { return hdr.flags & (EA_EXEC_ARGV_TRUNCATED | EA_EXEC_FILENAME_TRUNCATED); }
};

struct ExecResultEvent {
    ea_header hdr;
    int32_t retval;
};

struct TtyIoEvent {
    ea_header hdr;
    uint64_t tty_id;
    uint16_t rows, cols;
    std::string_view data;
    bool input() const { return hdr.flags & EA_IO_INPUT; }
    bool echo_off() const { return hdr.flags & EA_IO_ECHO_OFF; }
    bool onlcr() const { return hdr.flags & EA_IO_ONLCR; }
};

struct ExitEvent {
    ea_header hdr;
    int32_t exit_code;  ///< wait status
    uint64_t task_start_ns;
    bool leader() const { return hdr.flags & EA_EXIT_LEADER; }
};

struct LostEvent {
    ea_header hdr;
    uint64_t lost_events, lost_bytes;
};

using Event = std::variant<ExecEvent, ExecResultEvent, TtyIoEvent, ExitEvent, LostEvent>;

std::expected<Event, std::string> decode_event(std::span<const std::byte> record);

/// The header every event has.
const ea_header& header_of(const Event& event);

}  // namespace execaudit::recorder
