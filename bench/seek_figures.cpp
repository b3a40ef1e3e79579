// Replay seek latency: replay_seek_bench (Google Benchmark, beside this binary) synthesizes a long
// session, seeks to random points with the screen rebuilt, and reports p50/p99 as counters.
#include "bench/figures.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>

namespace execaudit::bench {

void seek_figures(const Scale& scale, Report& report) {
    namespace fs = std::filesystem;
    fs::path seek_bench = fs::read_symlink("/proc/self/exe").parent_path() / "replay_seek_bench";
    testing::TempDir dir;
    std::string out = dir.file("seek.json");
    bool small = scale.mode == Scale::Mode::smoke;
    std::string minutes = small ? "2" : "30", megabytes = small ? "4" : "50";
    auto r = testing::run({seek_bench.string(), "--minutes", minutes, "--megabytes", megabytes,
                           "--benchmark_filter=BM_SeekAnywhere", "--benchmark_out=" + out, "--benchmark_out_format=json"},
                          std::chrono::minutes(10));
    if (r.exit_code != 0) throw std::runtime_error("replay_seek_bench failed: " + r.err);
    auto doc = nlohmann::json::parse(testing::read_file(out));
    const auto& b = doc.at("benchmarks").at(0);
    std::string note = fmt::format("{}-minute, {} MB session, {:.0f} keyframes, 1000 random seeks, screen rebuilt", minutes,
                                   megabytes, b.value("keyframes", 0.0));
    report.add({"seek_ms_p50", b.at("p50_ms").get<double>(), "ms", std::nullopt, note});
    report.add({"seek_ms_p99", b.at("p99_ms").get<double>(), "ms", Target{Target::Op::at_most, 50.0}, note});
}

}  // namespace execaudit::bench
