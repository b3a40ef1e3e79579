#include "recorder/recorder.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/time_format.h"
#include "recorder/boot_clock.h"
#include "recorder/capture.h"
#include "recorder/event_decoder.h"
#include "recorder/exporter.h"
#include "recorder/pod_resolver.h"
#include "recorder/scope.h"
#include "recorder/session_tracker.h"
#include "recorder/tracefs.h"
#include "storage/store_writer.h"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <unistd.h>

#include <functional>

namespace execaudit::recorder {
namespace {

std::string hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
    return buf;
}

std::string describe_roots(const std::vector<CgroupRoot>& roots) {
    std::string out;
    for (const auto& r : roots) out += (out.empty() ? "" : ", ") + r.path;
    return out;
}

}  // namespace

int run_record(const RecordOptions& options) {
    CgroupFs cgroups = CgroupFs::discover();
    auto roots = choose_roots(cgroups, options.cgroup_roots);
    std::string node = options.node_name.empty() ? hostname() : options.node_name;

    auto db = storage::Database::open(options.db_path, storage::Database::Mode::read_write);
    if (int n = storage::close_abandoned_sessions(db))
        log::warn("{} sessions were left open by a recorder that did not stop cleanly; marked interrupted", n);
    storage::StoreWriter writer(std::move(db), {});
    // Export runs beside recording, on threads and connections of its own (recorder/exporter.h).
    auto exporters = make_exporters(options.exports, options.db_path);
    for (auto& e : exporters) e->start();

    ensure_tracefs();
    boost::asio::io_context io;
    BootClock clock;
    PodResolver resolver(cgroups, {options.pods_log_dir, options.containers_log_dir});
    SessionTracker tracker(
        SessionTracker::Options{.node = node, .boot_id = read_boot_id()},
        [&](uint64_t cgroup_id) { return resolver.resolve(cgroup_id); },
        [&](storage::WriteOp op) { writer.submit(std::move(op)); }, clock);

    uint64_t malformed = 0;
    auto on_batch = [&](std::span<const std::byte> batch) {
        Capture::for_each_record(batch, [&](std::span<const std::byte> record) {
            auto event = decode_event(record);
            if (!event) {
                if (malformed++ < 10) log::error("malformed record from the kernel: {}", event.error());
                return;
            }
            tracker.on_event(*event);
        });
    };
    Capture capture(io, Capture::Options{.roots = roots, .ring_bytes = options.ring_buffer_mb << 20}, on_batch);
    boost::asio::steady_timer tick(io);
    // Installed before "ready": a SIGTERM from then on always means a clean, flushed stop.
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        log::info("signal {}: stopping, flushing every session", signo);
        tick.cancel();
        capture.stop();  // detaches, then drains what the kernel still holds
        tracker.interrupt_all(wall_clock_ns());
        io.stop();
    });

    seed_running_containers(capture, cgroups, roots);
    capture.start();
    log::info("recording on node {}: {} programs attached, pod cgroups {}, database {}", node,
              capture.programs_attached(), describe_roots(roots), options.db_path);
    log::info("execaudit record: ready");

    unsigned ticks = 0;
    std::function<void()> schedule_tick = [&] {
        tick.expires_after(std::chrono::milliseconds(100));
        tick.async_wait([&](const boost::system::error_code& ec) {
            if (ec) return;
            if (++ticks % 100 == 0) clock.resync();  // follow NTP adjustments
            tracker.on_tick();
            schedule_tick();
        });
    };
    schedule_tick();


    io.run();
    writer.stop();
    for (auto& e : exporters) e->stop(std::chrono::seconds(5));  // deliver what was just flushed, if it can

    auto drops = capture.drops();
    const auto& st = tracker.stats();
    auto ws = writer.stats();
    log::info("stopped: {} sessions ({} ended), {} commands, {} bytes out, {} bytes in; kernel dropped {} records "
              "({} terminal bytes); {} malformed records; {} database transactions",
              st.sessions_started, st.sessions_ended, st.commands, st.output_bytes, st.input_bytes, drops.events,
              drops.bytes, malformed, ws.transactions);
    return 0;
}

}  // namespace execaudit::recorder
