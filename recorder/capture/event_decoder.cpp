#include "recorder/capture/event_decoder.h"

#include <fmt/format.h>

#include <cstring>

namespace execaudit::recorder {

// The ABI as the C++ side expects it: a change to bpf/events.h that moves a field fails here.
static_assert(sizeof(ea_header) == 40);
static_assert(offsetof(ea_header, ts_boot_ns) == 8 && offsetof(ea_header, cgroup_id) == 16);
static_assert(offsetof(ea_header, session_id) == 24 && offsetof(ea_header, pid) == 32);
static_assert(offsetof(ea_exec, task_start_ns) == 40 && offsetof(ea_exec, ppid) == 56);
static_assert(offsetof(ea_exec, filename_len) == 72 && offsetof(ea_exec, args_len) == 76);
static_assert(offsetof(ea_exec, comm) == 80 && offsetof(ea_exec, filename) == 112);
static_assert(offsetof(ea_exec, args) == 368 && sizeof(ea_exec) == 368 + EA_ARGS_BUF);
static_assert(sizeof(ea_exec_result) == 48);
static_assert(offsetof(ea_tty_io, tty_id) == 40 && offsetof(ea_tty_io, len) == 52 && offsetof(ea_tty_io, data) == 56);
static_assert(sizeof(ea_exit) == 56 && sizeof(ea_lost) == 56);
static_assert(sizeof(ea_uncaptured) == 64);
static_assert(offsetof(ea_exec_v2, target_cgroup_id) == 56 && offsetof(ea_exec_v2, mnt_ns) == 80);
static_assert(offsetof(ea_exec_v2, filename_len) == 88 && offsetof(ea_exec_v2, args_len) == 92);
static_assert(offsetof(ea_exec_v2, comm) == 96 && offsetof(ea_exec_v2, filename) == 128);
static_assert(offsetof(ea_exec_v2, args) == 384 && sizeof(ea_exec_v2) == 384 + EA_ARGS_V2_BUF);
static_assert(offsetof(ea_exec_result_v2, exe_ino) == 48 && offsetof(ea_exec_result_v2, path_len) == 64);
static_assert(offsetof(ea_exec_result_v2, path) == 72);

namespace {

template <typename T>
T copy_prefix(std::span<const std::byte> rec) {
    T out;
    std::memcpy(&out, rec.data(), sizeof(T));
    return out;
}

std::string_view bounded_cstr(const char* p, size_t max) { return std::string_view(p, strnlen(p, max)); }

// Both generations of the exec record (v1 from programs of an older recorder still pinned).
template <typename Raw>
std::expected<Event, std::string> decode_exec(std::span<const std::byte> rec) {
    constexpr size_t fixed = offsetof(Raw, args);
    if (rec.size() < fixed) return std::unexpected(fmt::format("exec record of {} bytes is shorter than {}", rec.size(), fixed));
    Raw raw_copy;  // aligned: the fixed part only
    std::memcpy(&raw_copy, rec.data(), fixed);
    const Raw* raw = &raw_copy;
    ExecEvent e;
    std::memcpy(&e.hdr, &raw->hdr, sizeof(e.hdr));
    e.task_start_ns = raw->task_start_ns;
    e.parent_cgroup_id = raw->parent_cgroup_id;
    if constexpr (std::is_same_v<Raw, ea_exec_v2>) {
        e.target_cgroup_id = raw->target_cgroup_id;
        e.mnt_ns = raw->mnt_ns;
        e.pid_ns = raw->pid_ns;
    }
    e.ppid = raw->ppid;
    e.uid = raw->uid;
    e.gid = raw->gid;
    e.ns_pid = raw->ns_pid;
    const char* base = reinterpret_cast<const char*>(rec.data());
    e.comm = bounded_cstr(base + offsetof(Raw, comm), EA_COMM_LEN);
    e.parent_comm = bounded_cstr(base + offsetof(Raw, parent_comm), EA_COMM_LEN);
    size_t filename_len = raw->filename_len;
    if (filename_len >= EA_FILENAME_MAX) return std::unexpected("exec record: filename length out of range");
    e.filename = std::string_view(base + offsetof(Raw, filename), filename_len);
    size_t args_len = raw->args_len;
    if (args_len > sizeof(raw->args) || fixed + args_len > rec.size())
        return std::unexpected(fmt::format("exec record: args_len {} does not fit its {} bytes", args_len, rec.size()));
    std::string_view args(base + fixed, args_len);
    size_t pos = 0;
    while (pos < args.size() && e.argv.size() < raw->argc) {
        size_t end = args.find('\0', pos);
        if (end == std::string_view::npos) end = args.size();  // cut without its NUL
        e.argv.push_back(args.substr(pos, end - pos));
        pos = end + 1;
    }
    return e;
}

std::expected<Event, std::string> decode_exec_result_v2(std::span<const std::byte> rec) {
    constexpr size_t fixed = offsetof(ea_exec_result_v2, path);
    if (rec.size() < fixed) return std::unexpected(fmt::format("exec result record of {} bytes is too short", rec.size()));
    ea_exec_result_v2 raw;
    std::memcpy(&raw, rec.data(), fixed);
    if (raw.path_len > EA_EXE_PATH_BUF || fixed + raw.path_len != rec.size())
        return std::unexpected(fmt::format("exec result record: path_len {} does not match its {} bytes", raw.path_len, rec.size()));
    ExecResultEvent e{raw.hdr, raw.retval};
    e.exe_flags = raw.exe_flags;
    e.exe_ino = raw.exe_ino;
    e.exe_dev = raw.exe_dev;
    e.exe_path = std::string_view(reinterpret_cast<const char*>(rec.data()) + fixed, raw.path_len);
    return e;
}

}  // namespace

std::expected<Event, std::string> decode_event(std::span<const std::byte> rec) {
    if (rec.size() < sizeof(ea_header)) return std::unexpected(fmt::format("record of {} bytes has no header", rec.size()));
    auto hdr = copy_prefix<ea_header>(rec);
    if (hdr.size != rec.size())
        return std::unexpected(fmt::format("record says {} bytes, ring buffer gave {}", hdr.size, rec.size()));
    switch (hdr.type) {
        case EA_EV_EXEC:
            return decode_exec<ea_exec>(rec);
        case EA_EV_EXEC_V2:
            return decode_exec<ea_exec_v2>(rec);
        case EA_EV_EXEC_RESULT_V2:
            return decode_exec_result_v2(rec);
        case EA_EV_UNCAPTURED: {
            if (rec.size() != sizeof(ea_uncaptured)) break;
            auto r = copy_prefix<ea_uncaptured>(rec);
            return UncapturedEvent{r.hdr, r.tty_id, r.bytes, r.path};
        }
        case EA_EV_EXEC_RESULT: {
            if (rec.size() != sizeof(ea_exec_result)) break;
            auto r = copy_prefix<ea_exec_result>(rec);
            return ExecResultEvent{r.hdr, r.retval};
        }
        case EA_EV_TTY_IO: {
            constexpr size_t fixed = offsetof(ea_tty_io, data);
            if (rec.size() < fixed) break;
            auto r = copy_prefix<ea_header>(rec);
            TtyIoEvent e;
            e.hdr = r;
            std::memcpy(&e.tty_id, rec.data() + offsetof(ea_tty_io, tty_id), sizeof(e.tty_id));
            std::memcpy(&e.rows, rec.data() + offsetof(ea_tty_io, rows), sizeof(e.rows));
            std::memcpy(&e.cols, rec.data() + offsetof(ea_tty_io, cols), sizeof(e.cols));
            uint32_t len;
            std::memcpy(&len, rec.data() + offsetof(ea_tty_io, len), sizeof(len));
            if (e.hdr.flags & EA_IO_MASKED) {  // a count, no bytes
                if (rec.size() != fixed) return std::unexpected("masked tty record carries data");
                e.masked_len = len;
                return e;
            }
            if (len > EA_IO_CHUNK || fixed + len != rec.size())
                return std::unexpected(fmt::format("tty record: len {} does not match its {} bytes", len, rec.size()));
            e.data = std::string_view(reinterpret_cast<const char*>(rec.data()) + fixed, len);
            return e;
        }
        case EA_EV_EXIT: {
            if (rec.size() != sizeof(ea_exit)) break;
            auto r = copy_prefix<ea_exit>(rec);
            return ExitEvent{r.hdr, r.exit_code, r.task_start_ns};
        }
        case EA_EV_LOST: {
            if (rec.size() != sizeof(ea_lost)) break;
            auto r = copy_prefix<ea_lost>(rec);
            return LostEvent{r.hdr, r.lost_events, r.lost_bytes};
        }
        default:
            return std::unexpected(fmt::format("unknown record type {}", hdr.type));
    }
    return std::unexpected(fmt::format("record type {} has the wrong size {}", hdr.type, rec.size()));
}

std::string_view uncaptured_path_name(uint32_t path) {
    switch (path) {
        case EA_PATH_SENDFILE: return "sendfile";
        case EA_PATH_SPLICE: return "splice";
        case EA_PATH_COPY_FILE_RANGE: return "copy_file_range";
        case EA_PATH_IO_URING: return "io_uring";
        case EA_PATH_COMPAT_VECTOR: return "a 32-bit vector or splice syscall";
        case EA_PATH_KERNEL_PAGES: return "sendfile, splice or copy_file_range";
        default: return "an unknown path";
    }
}

const ea_header& header_of(const Event& event) {
    return std::visit([](const auto& e) -> const ea_header& { return e.hdr; }, event);
}

}  // namespace execaudit::recorder
