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
    uint64_t target_cgroup_id = 0;  ///< nsenter: the container whose namespaces the task is in
    uint32_t ppid, uid, gid, ns_pid;
    uint32_t mnt_ns = 0, pid_ns = 0;
    std::string_view comm, parent_comm, filename;
    std::vector<std::string_view> argv;
    bool session_start() const { return hdr.flags & EA_EXEC_SESSION_START; }
    bool stdio_tty() const { return hdr.flags & EA_EXEC_STDIO_TTY; }
    bool nsenter() const { return hdr.flags & EA_EXEC_NSENTER; }
    bool tty_init() const { return hdr.flags & EA_EXEC_TTY_INIT; }
    bool argv_truncated() const { return hdr.flags & (EA_EXEC_ARGV_TRUNCATED | EA_EXEC_FILENAME_TRUNCATED); }
};

struct ExecResultEvent {
    ea_header hdr;
    int32_t retval;
    /// The executable the kernel loaded (v2 records of a successful exec).
    uint32_t exe_flags = 0;
    uint64_t exe_ino = 0;
    uint32_t exe_dev = 0;
    std::string_view exe_path;
    bool fileless() const { return exe_flags & EA_EXE_FILELESS; }
};

struct TtyIoEvent {
    ea_header hdr;
    uint64_t tty_id;
    uint16_t rows, cols;
    std::string_view data;
    uint32_t masked_len = 0;  ///< EA_IO_MASKED: bytes read, none kept
    bool input() const { return hdr.flags & EA_IO_INPUT; }
    bool echo_off() const { return hdr.flags & EA_IO_ECHO_OFF; }
    bool onlcr() const { return hdr.flags & EA_IO_ONLCR; }
    bool masked() const { return hdr.flags & EA_IO_MASKED; }
    bool kernel_echo() const { return hdr.flags & EA_IO_KERNEL_ECHO; }
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

/// Terminal bytes moved by a path whose data capture cannot read (sendfile, splice, io_uring...).
struct UncapturedEvent {
    ea_header hdr;
    uint64_t tty_id, bytes;
    uint32_t path;  ///< EA_PATH_*
    bool input() const { return hdr.flags & EA_IO_INPUT; }
};

/// "sendfile", "splice", ... for an EA_PATH_* value.
std::string_view uncaptured_path_name(uint32_t path);

using Event = std::variant<ExecEvent, ExecResultEvent, TtyIoEvent, ExitEvent, LostEvent, UncapturedEvent>;

std::expected<Event, std::string> decode_event(std::span<const std::byte> record);

/// The header every event has.
const ea_header& header_of(const Event& event);

}  // namespace execaudit::recorder
