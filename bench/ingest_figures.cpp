// recorder -> SQLite, sustained: decoded kernel records through the SessionTracker into the
// StoreWriter (compression, batched transactions, WAL), until everything is committed.
#include "bench/figures.h"
#include "recorder/capture/session_tracker.h"
#include "tests/support/environment.h"
#include "tests/support/event_builder.h"

#include <fmt/format.h>

namespace execaudit::bench {
namespace {

struct IngestRun {
    double seconds = 0;
    uint64_t bytes = 0;
    uint64_t events = 0;
};

IngestRun ingest(size_t total_bytes, size_t event_bytes, const std::string& db_path) {
    storage::StoreWriter writer(storage::Database::open(db_path, storage::Database::Mode::read_write), {});
    recorder::BootClock clock;
    recorder::SessionTracker tracker(recorder::SessionTracker::Options{.node = "bench", .check_leader_liveness = false},
                                     [](uint64_t) { return recorder::PodIdentity{}; },
                                     [&](storage::WriteOp op) { writer.submit(std::move(op)); }, clock);
    testing::RecordBuilder b;
    auto feed = [&](const std::vector<std::byte>& rec) { tracker.on_event(*recorder::decode_event(rec)); };

    // log-like output, varied so the compressor is not flattered
    std::string text;
    for (int i = 0; text.size() < 1 << 20; ++i)
        text += fmt::format("2026-11-24T12:00:{:02}.{:06}Z INFO request id={} path=/api/v1/items/{} status=200 ms={}\n", i % 60,
                            (i * 7919) % 1000000, i * 31, i % 997, i % 250);
    IngestRun run;
    auto start = std::chrono::steady_clock::now();
    feed(b.exec({"/bin/bash"}, EA_EXEC_SESSION_START));
    size_t offset = 0;
    while (run.bytes < total_bytes) {
        if (offset + event_bytes > text.size()) offset = 0;
        b.ts += 2000;
        feed(b.tty(std::string_view(text).substr(offset, event_bytes)));
        offset += event_bytes;
        run.bytes += event_bytes;
        ++run.events;
    }
    feed(b.exit(0, true));
    tracker.on_tick();
    writer.flush();
    run.seconds = seconds_since(start);
    return run;
}

}  // namespace

void ingest_figures(const Scale& scale, Report& report) {
    testing::TempDir dir;
    auto big = ingest(scale.ingest_mb << 20, EA_IO_CHUNK, dir.file("big.db"));
    report.add({"ingest_mb_per_s", static_cast<double>(big.bytes) / 1e6 / big.seconds, "MB/s", Target{Target::Op::at_least, 200},
                fmt::format("{} MB in 4 KiB records, decode + sessions + zstd + SQLite commit", scale.ingest_mb)});
    auto small = ingest(scale.ingest_mb << 17, 64, dir.file("small.db"));
    report.add({"ingest_events_per_s", static_cast<double>(small.events) / small.seconds, "events/s", std::nullopt,
                "64-byte terminal records (keystroke and short-line sized)"});
}

}  // namespace execaudit::bench
