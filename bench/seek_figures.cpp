// Replay: replay_seek_bench (Google Benchmark, beside this binary) synthesizes a long session,
// seeks to random points with the screen rebuilt, and reports p50/p99 as counters; then
// `execaudit play --cat` (the final screen) and `play --cat --start` (a seek near the end) run on
// the same database and their peak RSS is play_rss_mb.
#include "bench/figures.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"
#include "tests/support/tmux.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

namespace execaudit::bench {
namespace {

// Runs argv (stdout and stderr discarded) and returns the child's peak RSS in MB (wait4: VmHWM).
double peak_rss_mb(const std::vector<std::string>& argv) {
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    struct rusage ru {};
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error(fmt::format("{} failed (status {})", fmt::join(argv, " "), status));
    return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// `execaudit play` in a real terminal (tmux): it loads every command for its timeline, then
// plays; its peak RSS (VmHWM) is read once it has jumped to the end, before it quits.
double interactive_peak_rss_mb(const std::string& db) {
    testing::Tmux player(50, 160, testing::play_argv(db, "be0cbe0c"));
    if (!player.wait_for("Commands (", std::chrono::minutes(5)))
        throw std::runtime_error("play did not show its timeline: " + player.screen());
    auto pid = player.program_pid();
    if (!pid) throw std::runtime_error("play is not running: " + player.screen());
    player.keys({"G"});
    (void)player.settled();
    auto peak = testing::peak_rss_mb(*pid);
    if (!peak) throw std::runtime_error("play exited before its RSS was read: " + player.screen());
    player.keys({"q"});
    return *peak;
}

}  // namespace

void seek_figures(const Scale& scale, Report& report) {
    namespace fs = std::filesystem;
    fs::path seek_bench = fs::read_symlink("/proc/self/exe").parent_path() / "replay_seek_bench";
    testing::TempDir dir;
    std::string out = dir.file("seek.json"), db = dir.file("session.db");
    // an 8-hour session of a few hundred MB (--quick: 100 MB); a smoke run proves the harness
    std::string minutes = "480", megabytes = "300";
    if (scale.mode == Scale::Mode::quick) megabytes = "100";
    if (scale.mode == Scale::Mode::smoke) minutes = "2", megabytes = "4";
    auto r = testing::run({seek_bench.string(), "--minutes", minutes, "--megabytes", megabytes, "--keep-db", db,
                           "--benchmark_filter=BM_SeekAnywhere", "--benchmark_out=" + out, "--benchmark_out_format=json"},
                          std::chrono::minutes(20));
    if (r.exit_code != 0) throw std::runtime_error("replay_seek_bench failed: " + r.err);
    auto doc = nlohmann::json::parse(testing::read_file(out));
    const auto& b = doc.at("benchmarks").at(0);
    std::string note = fmt::format("{}-minute, {} MB session, {:.0f} keyframes ({:.1f} MB), 1000 random seeks, screen rebuilt", minutes,
                                   megabytes, b.value("keyframes", 0.0), b.value("keyframe_MB", 0.0));
    report.add({"seek_ms_p50", b.at("p50_ms").get<double>(), "ms", std::nullopt, note});
    report.add({"seek_ms_p99", b.at("p99_ms").get<double>(), "ms", Target{Target::Op::at_most, 50.0}, note});

    // the whole session played to its final screen, and a seek a minute before its end
    std::string bin = testing::execaudit_bin();
    double cat = peak_rss_mb({bin, "play", "be0cbe0c", "--db", db, "--cat"});
    double near_end = static_cast<double>(std::stoi(minutes) - 1) * 60;
    double seek = peak_rss_mb({bin, "play", "be0cbe0c", "--db", db, "--cat", "--start", fmt::format("{:.0f}", near_end)});
    double interactive = interactive_peak_rss_mb(db);
    report.add({"play_rss_mb", std::max({cat, seek, interactive}), "MB", Target{Target::Op::at_most, 64.0},
                fmt::format("peak RSS of `execaudit play --cat` ({:.0f} MB), `--cat --start {:.0f}` ({:.0f} MB) and of `play` in a "
                            "terminal, with its timeline of every command, played to the end ({:.0f} MB) on the {} MB session",
                            cat, near_end, seek, interactive, megabytes)});
}

}  // namespace execaudit::bench
