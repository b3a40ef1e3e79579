// recorder -> SQLite, sustained: decoded kernel records through the SessionTracker into the
// StoreWriter (compression, batched transactions, WAL), until everything is committed.
#include "bench/figures.h"
#include "recorder/capture/session_tracker.h"
#include "storage/chain_verify.h"
#include "storage/session_store.h"
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

struct VerifyRun {
    double seconds = 0;
    size_t sessions = 0;
    uint64_t bytes = 0;
    bool intact = true;
};

// `execaudit verify`'s work: every session's chain recomputed from the file (decompression included).
VerifyRun verify_all(const std::string& db_path) {
    auto db = storage::Database::open(db_path, storage::Database::Mode::read_only);
    storage::SessionStore store(db);
    VerifyRun run;
    auto start = std::chrono::steady_clock::now();
    for (const auto& s : store.list({})) {
        auto r = storage::verify_session(store, s, nullptr);
        run.intact &= r.verdict == storage::Integrity::intact;
        run.bytes += r.bytes;
        ++run.sessions;
    }
    run.seconds = seconds_since(start);
    return run;
}

// Many short sessions, as a quarter of interactive use looks: a few commands, a few KB each.
void write_short_sessions(const std::string& db_path, int sessions) {
    storage::StoreWriter writer(storage::Database::open(db_path, storage::Database::Mode::read_write), {});
    recorder::BootClock clock;
    recorder::SessionTracker tracker(recorder::SessionTracker::Options{.node = "bench", .check_leader_liveness = false},
                                     [](uint64_t) { return recorder::PodIdentity{}; },
                                     [&](storage::WriteOp op) { writer.submit(std::move(op)); }, clock);
    auto feed = [&](const std::vector<std::byte>& rec) { tracker.on_event(*recorder::decode_event(rec)); };
    for (int i = 0; i < sessions; ++i) {
        testing::RecordBuilder b;
        b.session_id = static_cast<uint64_t>(i + 1);
        b.pid = b.tid = static_cast<uint32_t>(1000 + i);
        feed(b.exec({"/bin/bash"}, EA_EXEC_SESSION_START));
        for (int c = 0; c < 5; ++c) {
            b.ts += 1'000'000;
            feed(b.tty(fmt::format("# ls -l /srv/{}\r\n{}\r\n", c, std::string(400, 'a' + c % 26)), false));
        }
        feed(b.exit(0, true));
    }
    tracker.on_tick();
    writer.flush();
}

}  // namespace

void ingest_figures(const Scale& scale, Report& report) {
    testing::TempDir dir;
    auto big = ingest(scale.ingest_mb << 20, EA_IO_CHUNK, dir.file("big.db"));
    report.add({"ingest_mb_per_s", static_cast<double>(big.bytes) / 1e6 / big.seconds, "MB/s", Target{Target::Op::at_least, 200},
                fmt::format("{} MB in 4 KiB records, decode + sessions + zstd + SQLite commit", scale.ingest_mb)});
    auto checked = verify_all(dir.file("big.db"));
    report.add({"verify_gb_per_s", static_cast<double>(checked.bytes) / 1e9 / checked.seconds, "GB/s", std::nullopt,
                fmt::format("`verify` on that {} MB session: read, zstd decompress, SHA-256 chain{}", checked.bytes >> 20,
                            checked.intact ? "" : " (NOT INTACT)")});
    int short_sessions = scale.mode == Scale::Mode::smoke ? 200 : 5000;
    write_short_sessions(dir.file("many.db"), short_sessions);
    auto many = verify_all(dir.file("many.db"));
    report.add({"verify_sessions_per_s", static_cast<double>(many.sessions) / many.seconds, "sessions/s", std::nullopt,
                fmt::format("`verify` over {} short sessions (5 outputs of ~420 bytes each){}", many.sessions,
                            many.intact ? "" : " (NOT INTACT)")});
    auto small = ingest(scale.ingest_mb << 17, 64, dir.file("small.db"));
    report.add({"ingest_events_per_s", static_cast<double>(small.events) / small.seconds, "events/s", std::nullopt,
                "64-byte terminal records (keystroke and short-line sized)"});
}

}  // namespace execaudit::bench
