#pragma once
// Builds raw kernel records (bpf/events.h) the way the BPF programs lay them out, for feeding
// the decoder and the session tracker synthetic sessions.

#include "events.h"

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::testing {

struct RecordBuilder {
    uint64_t session_id = 1;
    uint64_t cgroup_id = 4242;
    uint32_t pid = 1000;
    uint32_t tid = 1000;
    uint64_t ts = 1'000'000'000;  ///< boot ns; advance it between records

    ea_header header(uint16_t type, uint16_t flags, uint32_t size) const {
        ea_header h{};
        h.type = type;
        h.flags = flags;
        h.size = size;
        h.ts_boot_ns = ts;
        h.cgroup_id = cgroup_id;
        h.session_id = session_id;
        h.pid = pid;
        h.tid = tid;
        return h;
    }

    std::vector<std::byte> exec(const std::vector<std::string>& argv, uint16_t flags = 0, uint32_t ppid = 999,
                                std::string_view parent_comm = "runc") const {
        ea_exec e{};
        std::string args;
        for (const auto& a : argv) {
            args += a;
            args += '\0';
        }
        size_t size = offsetof(ea_exec, args) + args.size();
        e.hdr = header(EA_EV_EXEC, flags, static_cast<uint32_t>(size));
        e.ppid = ppid;
        e.task_start_ns = ts - 1000;
        std::string filename = argv.empty() ? "" : argv[0];
        std::memcpy(e.filename, filename.data(), std::min(filename.size(), sizeof(e.filename) - 1));
        e.filename_len = static_cast<uint16_t>(std::min(filename.size(), sizeof(e.filename) - 1));
        std::memcpy(e.parent_comm, parent_comm.data(), std::min(parent_comm.size(), sizeof(e.parent_comm) - 1));
        std::memcpy(e.args, args.data(), args.size());
        e.args_len = static_cast<uint32_t>(args.size());
        e.argc = static_cast<uint16_t>(argv.size());
        std::vector<std::byte> out(size);
        std::memcpy(out.data(), &e, size);
        return out;
    }

    std::vector<std::byte> exec_result(int32_t retval) const {
        ea_exec_result r{};
        r.hdr = header(EA_EV_EXEC_RESULT, 0, sizeof(r));
        r.retval = retval;
        return bytes_of(r);
    }

    std::vector<std::byte> tty(std::string_view data, bool input = false, uint16_t rows = 24, uint16_t cols = 80,
                               uint16_t extra_flags = EA_IO_ONLCR) const {
        ea_tty_io io{};
        size_t size = offsetof(ea_tty_io, data) + data.size();
        io.hdr = header(EA_EV_TTY_IO, static_cast<uint16_t>((input ? EA_IO_INPUT : extra_flags)), static_cast<uint32_t>(size));
        io.rows = rows;
        io.cols = cols;
        io.len = static_cast<uint32_t>(data.size());
        std::memcpy(io.data, data.data(), data.size());
        std::vector<std::byte> out(size);
        std::memcpy(out.data(), &io, size);
        return out;
    }

    std::vector<std::byte> exit(int32_t wait_status, bool leader) const {
        ea_exit e{};
        e.hdr = header(EA_EV_EXIT, leader ? EA_EXIT_LEADER : 0, sizeof(e));
        e.exit_code = wait_status;
        return bytes_of(e);
    }

    std::vector<std::byte> lost(uint64_t events, uint64_t bytes) const {
        ea_lost l{};
        l.hdr = header(EA_EV_LOST, 0, sizeof(l));
        l.lost_events = events;
        l.lost_bytes = bytes;
        return bytes_of(l);
    }

    template <typename T>
    static std::vector<std::byte> bytes_of(const T& v) {
        std::vector<std::byte> out(sizeof(T));
        std::memcpy(out.data(), &v, sizeof(T));
        return out;
    }
};

}  // namespace execaudit::testing
