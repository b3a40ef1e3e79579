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

namespace {

template <typename T>
T copy_prefix(std::span<const std::byte> rec) {
    T out;
    std::memcpy(&out, rec.data(), sizeof(T));
    return out;
}

std::string_view bounded_cstr(const char* p, size_t max) { return std::string_view(p, strnlen(p, max)); }

std::expected<Event, std::string> decode_exec(std::span<const std::byte> rec) {
    constexpr size_t fixed = offsetof(ea_exec, args);
    if (rec.size() < fixed) return std::unexpected(fmt::format("exec record of {} bytes is shorter than {}", rec.size(), fixed));
    const auto* raw = reinterpret_cast<const ea_exec*>(rec.data());
    ExecEvent e;
    std::memcpy(&e.hdr, &raw->hdr, sizeof(e.hdr));
    e.task_start_ns = raw->task_start_ns;
    e.parent_cgroup_id = raw->parent_cgroup_id;
    e.ppid = raw->ppid;
    e.uid = raw->uid;
    e.gid = raw->gid;
    e.ns_pid = raw->ns_pid;
    e.comm = bounded_cstr(raw->comm, sizeof(raw->comm));
    e.parent_comm = bounded_cstr(raw->parent_comm, sizeof(raw->parent_comm));
    size_t filename_len = raw->filename_len;
    if (filename_len >= EA_FILENAME_MAX) return std::unexpected("exec record: filename length out of range");
    e.filename = std::string_view(raw->filename, filename_len);
    size_t args_len = raw->args_len;
    if (args_len > EA_ARGS_BUF || fixed + args_len > rec.size())
        return std::unexpected(fmt::format("exec record: args_len {} does not fit its {} bytes", args_len, rec.size()));
    std::string_view args(raw->args, args_len);
    size_t pos = 0;
    while (pos < args.size() && e.argv.size() < raw->argc) {
        size_t end = args.find('\0', pos);
        if (end == std::string_view::npos) end = args.size();  // cut without its NUL
        e.argv.push_back(args.substr(pos, end - pos));
        pos = end + 1;
    }
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
            return decode_exec(rec);
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

const ea_header& header_of(const Event& event) {
    return std::visit([](const auto& e) -> const ea_header& { return e.hdr; }, event);
}

}  // namespace execaudit::recorder
