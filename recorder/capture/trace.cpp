#include "recorder/capture/trace.h"

#include "common/json_output.h"
#include "common/log.h"
#include "common/text.h"
#include "recorder/capture/boot_clock.h"
#include "recorder/capture/capture.h"
#include "recorder/capture/event_decoder.h"
#include "recorder/capture/scope.h"
#include "recorder/capture/tracefs.h"
#include "common/time_format.h"

#include <boost/asio/signal_set.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

namespace execaudit::recorder {
namespace {

nlohmann::json to_json(const Event& event, const BootClock& clock) {
    const ea_header& h = header_of(event);
    nlohmann::json j = {
        {"time", format_rfc3339_us(clock.to_wall_ns(h.ts_boot_ns))},
        {"boot_ns", h.ts_boot_ns},
        {"session", h.session_id},
        {"pid", h.pid},
        {"tid", h.tid},
        {"cgroup_id", h.cgroup_id},
        {"flags", h.flags},
    };
    std::visit(
        [&](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, ExecEvent>) {
                j["type"] = "exec";
                j["session_start"] = e.session_start();
                j["ppid"] = e.ppid;
                j["uid"] = e.uid;
                j["gid"] = e.gid;
                j["ns_pid"] = e.ns_pid;
                j["comm"] = utf8_lossy(e.comm);
                j["parent_comm"] = utf8_lossy(e.parent_comm);
                j["filename"] = utf8_lossy(e.filename);
                auto& argv = j["argv"] = nlohmann::json::array();
                for (auto a : e.argv) argv.push_back(utf8_lossy(a));
                j["argv_truncated"] = e.argv_truncated();
                j["nsenter"] = e.nsenter();
                j["tty_init"] = e.tty_init();
                if (e.nsenter()) j["target_cgroup_id"] = e.target_cgroup_id;
                j["mnt_ns"] = e.mnt_ns;
                j["pid_ns"] = e.pid_ns;
            } else if constexpr (std::is_same_v<T, ExecResultEvent>) {
                j["type"] = "exec_result";
                j["retval"] = e.retval;
                j["exe"] = utf8_lossy(e.exe_path);
                j["exe_inode"] = e.exe_ino;
                j["fileless"] = e.fileless();
            } else if constexpr (std::is_same_v<T, TtyIoEvent>) {
                j["type"] = e.input() ? "input" : "output";
                j["tty_id"] = e.tty_id;
                j["rows"] = e.rows;
                j["cols"] = e.cols;
                j["echo_off"] = e.echo_off();
                j["masked"] = e.masked();
                j["kernel_echo"] = e.kernel_echo();
                j["len"] = e.masked() ? e.masked_len : e.data.size();
                j["data"] = utf8_lossy(e.data);
            } else if constexpr (std::is_same_v<T, ExitEvent>) {
                j["type"] = "exit";
                j["leader"] = e.leader();
                j["wait_status"] = e.exit_code;
            } else if constexpr (std::is_same_v<T, UncapturedEvent>) {
                j["type"] = "uncaptured";
                j["input"] = e.input();
                j["tty_id"] = e.tty_id;
                j["bytes"] = e.bytes;
                j["path"] = uncaptured_path_name(e.path);
            } else {
                j["type"] = "lost";
                j["lost_events"] = e.lost_events;
                j["lost_bytes"] = e.lost_bytes;
            }
        },
        event);
    return j;
}

}  // namespace

int run_trace(const TraceOptions& options) {
    CgroupFs cgroups = CgroupFs::discover();
    auto roots = choose_roots(cgroups, options.cgroup_roots);
    ensure_tracefs();
    boost::asio::io_context io;
    BootClock clock;
    auto on_batch = [&](std::span<const std::byte> batch) {
        Capture::for_each_record(batch, [&](std::span<const std::byte> record) {
            auto event = decode_event(record);
            std::string line = dump_json_safe(event ? to_json(*event, clock)
                                                    : nlohmann::json{{"type", "malformed"}, {"error", event.error()}});
            line += '\n';
            std::fwrite(line.data(), 1, line.size(), stdout);
        });
        std::fflush(stdout);
    };
    Capture capture(io, Capture::Options{.roots = roots, .ring_bytes = options.ring_buffer_mb << 20}, on_batch);
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        capture.stop();
        io.stop();
    });
    seed_running_containers(capture, cgroups, roots);
    capture.start();
    log::info("execaudit trace: ready ({} programs attached)", capture.programs_attached());
    io.run();
    auto drops = capture.drops();
    log::info("trace stopped: {} records, {} dropped by the kernel", capture.records_received(), drops.events);
    return 0;
}

}  // namespace execaudit::recorder
