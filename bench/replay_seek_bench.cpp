// Seek latency in a long session, as the player does it: restore the keyframe before the target,
// replay the output after it, then read every cell of the screen (what drawing it costs).
//
//   build/bench/replay_seek_bench [--minutes 30] [--megabytes 50] [--keep-db PATH]
//
// --keep-db writes the database to PATH and leaves it there (execaudit-bench then measures the
// peak RSS of `execaudit play` on it: play_rss_mb).
//
// The session is synthesized (realistic shell output spread over the time: prompts, listings
// with colours, logs with timestamps, a full-screen `top` now and then, idle pauses) and stored
// with storage::StoreWriter in a temporary database, then read back like `execaudit play` does.
#include "replay/play_frames.h"
#include "replay/playback.h"
#include "replay/recording.h"
#include "storage/io_frames.h"
#include "storage/session_store.h"
#include "storage/store_writer.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <vterm.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>

using namespace execaudit;
using Clock = std::chrono::steady_clock;

namespace {

double minutes = 30, megabytes = 50;
std::string keep_db;  // empty: a temporary database, removed at the end

struct Fixture {
    std::filesystem::path dir;
    std::unique_ptr<storage::Database> db;
    std::unique_ptr<storage::SessionStore> store;
    std::unique_ptr<replay::Recording> recording;
    double load_s = 0, index_s = 0, full_replay_s = 0;
    size_t stored_bytes = 0;
};

std::string shell_output(std::mt19937& rng, int& n, size_t& top_frames) {
    static const char* dirs[] = {"bin", "etc", "lib", "usr", "var", "opt", "srv", "tmp", "home", "root"};
    std::string out;
    switch (rng() % 6) {
        case 0:  // ls -l with colours
            for (int i = 0; i < 40; ++i)
                out += fmt::format("drwxr-xr-x  2 root root {:6} Oct 29 12:{:02} \x1b[01;34m{}-{}\x1b[0m\r\n", rng() % 100000, rng() % 60,
                                   dirs[rng() % 10], rng() % 1000);
            break;
        case 1:  // a log tail
            for (int i = 0; i < 60; ++i)
                out += fmt::format("2024-10-29T12:{:02}:{:02}.{:06}Z INFO  request id={:x} path=/api/v1/orders/{} status=200 {}ms\r\n",
                                   rng() % 60, rng() % 60, rng() % 1000000, rng(), rng() % 10000, rng() % 900);
            break;
        case 2:  // `top` redrawing the alternate screen
            out += "\x1b[?1049h";
            for (int frame = 0; frame < 5; ++frame) {
                out += "\x1b[H\x1b[2J\x1b[7m  PID USER      PR  NI    VIRT    RES  %CPU  %MEM     TIME+ COMMAND        \x1b[m\r\n";
                for (int i = 0; i < 22; ++i)
                    out += fmt::format("\x1b[{};1H{:5} root      20   0 {:7} {:6} {:5.1f} {:5.1f} {:3}:{:02}.{:02} worker-{}", i + 2,
                                       rng() % 30000, rng() % 900000, rng() % 90000, (rng() % 1000) / 10.0, (rng() % 1000) / 10.0,
                                       rng() % 100, rng() % 60, rng() % 100, i);
                ++top_frames;
            }
            out += "\x1b[?1049l";
            break;
        default:  // a build log
            for (int i = 0; i < 30; ++i)
                out += fmt::format("[{:3}%] \x1b[32mBuilding CXX object\x1b[0m src/module_{}/file_{}.cpp.o\r\n", (n * 7 + i) % 100, rng() % 50,
                                   rng() % 500);
    }
    out += fmt::format("\x1b[01;32mroot@web-7f9c\x1b[00m:\x1b[01;34m/srv/app\x1b[00m# ");
    ++n;
    return out;
}

Fixture& fixture() {
    static Fixture* f = [] {
        auto* fx = new Fixture();
        fx->dir = std::filesystem::temp_directory_path() / fmt::format("execaudit-bench-{}", getpid());
        std::filesystem::create_directories(fx->dir);
        std::string path = keep_db.empty() ? (fx->dir / "s.db").string() : keep_db;
        const uint64_t duration_us = static_cast<uint64_t>(minutes * 60e6);
        const size_t target = static_cast<size_t>(megabytes * 1024 * 1024);
        {
            // a fixture, not a recorder: it waits for the disk rather than drop (and count) records
            storage::StoreWriter w(storage::Database::open(path, storage::Database::Mode::read_write),
                                   {.nice = 0, .stall_patience = std::chrono::minutes(10)});
            storage::SessionRecord s;
            s.id = "be0cbe0cbe0cbe0c";
            s.namespace_name = "shop";
            s.pod = "web-7f9c";
            s.container = "app";
            s.tty = true;
            s.rows = 24;
            s.cols = 80;
            s.start_ns = 1'730'204'504'000'000'000;
            s.end_ns = s.start_ns + static_cast<int64_t>(duration_us) * 1000;
            s.status = "ended";
            w.submit(storage::WriteSession{s});
            // bursts of output at times spread over the session (a few long idle pauses included),
            // generated as they are stored: an 8-hour session has hundreds of MB
            std::mt19937 rng(42);
            size_t total = 0;
            int n = 0;
            size_t top_frames = 0;
            storage::ChunkEncoder enc;
            uint32_t seq = 0, cmd = 0;
            auto seal = [&] {
                storage::ChunkRecord c;
                c.session_id = s.id;
                c.seq = seq++;
                c.first_offset_us = enc.first_offset_us();
                c.last_offset_us = enc.last_offset_us();
                c.frames = enc.frames();
                c.output_bytes = enc.output_bytes();
                c.frames_data = enc.take();
                w.submit(storage::WriteChunk{std::move(c)});
            };
            for (size_t i = 0; total < target; ++i) {
                std::string burst = shell_output(rng, n, top_frames);
                uint64_t at = static_cast<uint64_t>(static_cast<double>(duration_us) * static_cast<double>(total) / static_cast<double>(target));
                total += burst.size();
                storage::CommandRecord c;
                c.session_id = s.id;
                c.seq = cmd++;
                c.time_ns = s.start_ns + static_cast<int64_t>(at) * 1000;
                c.argv = {"cmd", std::to_string(i)};
                c.retval = 0;
                w.submit(storage::WriteCommand{std::move(c)});
                // a pty delivers at most 4 KB per read
                for (size_t pos = 0; pos < burst.size(); pos += 4096) {
                    enc.add_bytes(at + pos / 64, storage::FrameKind::output, std::string_view(burst).substr(pos, 4096));
                    if (enc.size_bytes() >= 512 * 1024) seal();  // the recorder's chunk size (SessionTracker::Options)
                }
            }
            if (!enc.empty()) seal();
            w.flush();
            // The writer is still open: what it committed may be in the WAL, not yet in the file.
            std::error_code no_wal;
            auto wal = std::filesystem::file_size(path + "-wal", no_wal);
            fx->stored_bytes = static_cast<size_t>(std::filesystem::file_size(path) + (no_wal ? 0 : wal));
        }
        fx->db = std::make_unique<storage::Database>(storage::Database::open(path, storage::Database::Mode::read_only));
        fx->store = std::make_unique<storage::SessionStore>(*fx->db);
        auto t0 = Clock::now();
        auto session = fx->store->find("be0cbe0c");
        auto rec = replay::Recording::load(*fx->store, *session);
        fx->recording = std::make_unique<replay::Recording>(std::move(*rec));
        fx->load_s = std::chrono::duration<double>(Clock::now() - t0).count();
        return fx;
    }();
    return *f;
}

// Reads every cell, as drawing the screen does.
size_t read_screen(const replay::TerminalScreen& s) {
    size_t n = 0;
    for (int r = 0; r < s.rows(); ++r)
        for (int c = 0; c < s.cols(); ++c) {
            VTermScreenCell cell;
            vterm_screen_get_cell(s.screen(), VTermPos{r, c}, &cell);
            n += cell.chars[0] != 0;
        }
    return n;
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())))];
}

void BM_SeekAnywhere(benchmark::State& state) {
    Fixture& f = fixture();
    replay::Playback playback(*f.recording, {});
    auto t0 = Clock::now();
    while (!playback.index_some(50'000)) {
    }
    f.index_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::mt19937_64 rng(7);
    std::vector<double> ms;
    for (auto _ : state) {
        uint64_t target = rng() % (playback.duration_us() + 1);
        auto start = Clock::now();
        playback.seek(target);
        benchmark::DoNotOptimize(read_screen(playback.screen()));
        double s = std::chrono::duration<double>(Clock::now() - start).count();
        state.SetIterationTime(s);
        ms.push_back(s * 1000);
    }
    state.counters["p50_ms"] = percentile(ms, 50);
    state.counters["p90_ms"] = percentile(ms, 90);
    state.counters["p99_ms"] = percentile(ms, 99);
    state.counters["max_ms"] = *std::max_element(ms.begin(), ms.end());
    state.counters["keyframes"] = static_cast<double>(playback.keyframes().keyframes());
    state.counters["keyframe_MB"] = static_cast<double>(playback.keyframes().keyframe_memory()) / 1e6;
    fmt::print(stderr,
               "\nseek anywhere in a {:.0f}-minute session of {:.1f} MB output ({:.1f} MB stored), {} seeks, screen rebuilt:\n"
               "  p50 {:.2f} ms   p90 {:.2f} ms   p99 {:.2f} ms   max {:.2f} ms   (target: p99 < 50 ms)\n"
               "  load {:.2f} s, index {:.2f} s: {} keyframes, {:.1f} MB compressed\n",
               minutes, static_cast<double>(f.recording->output_bytes()) / 1048576.0, static_cast<double>(f.stored_bytes) / 1048576.0,
               ms.size(), percentile(ms, 50), percentile(ms, 90), percentile(ms, 99), *std::max_element(ms.begin(), ms.end()), f.load_s,
               f.index_s, playback.keyframes().keyframes(), static_cast<double>(playback.keyframes().keyframe_memory()) / 1e6);
}
BENCHMARK(BM_SeekAnywhere)->UseManualTime()->Iterations(1000)->Unit(benchmark::kMillisecond);

// The same seeks without keyframes: a fresh emulator fed every frame up to the target (what a
// player without snapshots does), and nothing more. Fewer iterations: each one is long.
void BM_SeekByReplayingFromTheStart(benchmark::State& state) {
    Fixture& f = fixture();
    const replay::Recording& rec = *f.recording;
    std::mt19937_64 rng(7);
    std::vector<double> ms;
    for (auto _ : state) {
        uint64_t target = rng() % (rec.duration_us() + 1);
        // every frame at or before the target, as Playback::seek counts them
        auto end = std::upper_bound(rec.frames().begin(), rec.frames().end(), target,
                                    [](uint64_t t, const replay::PlayFrame& fr) { return t < fr.offset_us; });
        auto start = Clock::now();
        replay::TerminalScreen screen(rec.initial_rows(), rec.initial_cols());
        replay::play_frames(screen, rec, 0, static_cast<size_t>(end - rec.frames().begin()));
        benchmark::DoNotOptimize(read_screen(screen));
        double s = std::chrono::duration<double>(Clock::now() - start).count();
        state.SetIterationTime(s);
        ms.push_back(s * 1000);
    }
    state.counters["p50_ms"] = percentile(ms, 50);
    state.counters["max_ms"] = *std::max_element(ms.begin(), ms.end());
    fmt::print(stderr, "\nwithout keyframes (replay from the start), {} seeks: p50 {:.0f} ms, max {:.0f} ms\n", ms.size(),
               percentile(ms, 50), *std::max_element(ms.begin(), ms.end()));
}
BENCHMARK(BM_SeekByReplayingFromTheStart)->UseManualTime()->Iterations(10)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    // our flags first; the rest are Google Benchmark's
    std::vector<char*> rest = {argv[0]};
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--minutes" && i + 1 < argc) minutes = std::atof(argv[++i]);
        else if (a == "--megabytes" && i + 1 < argc) megabytes = std::atof(argv[++i]);
        else if (a == "--keep-db" && i + 1 < argc) keep_db = argv[++i];
        else rest.push_back(argv[i]);
    }
    int n = static_cast<int>(rest.size());
    benchmark::Initialize(&n, rest.data());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    std::filesystem::remove_all(fixture().dir);
    return 0;
}
