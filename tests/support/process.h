#pragma once
// Real processes for tests: run-to-completion with captured output, long-running children,
// and a child on a pseudo-terminal that a test types into like a person.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace execaudit::testing {

using namespace std::chrono_literals;

struct RunResult {
    int exit_code = -1;  ///< -1: did not exit in time (killed), 128+N: killed by signal N
    std::string out;
    std::string err;
};

/// Runs argv to completion (killed after `timeout`), capturing stdout and stderr.
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 60s);

/// A child running in the background, stderr (and stdout) to a log file. Killed on destruction.
class Process {
public:
    Process(const std::vector<std::string>& argv, const std::string& log_path);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    void signal(int signo) const;
    /// Waits for exit: the exit code (128+N for signal N), or nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    bool running();

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

/// A child on a new pty (its controlling terminal), at a given window size.
class PtyProcess {
public:
    PtyProcess(const std::vector<std::string>& argv, int rows, int cols);
    ~PtyProcess();
    PtyProcess(const PtyProcess&) = delete;
    PtyProcess& operator=(const PtyProcess&) = delete;

    /// Writes keystrokes; returns the number of bytes typed.
    size_t type(std::string_view keys);
    /// Reads output until `needle` appears after `from` (an offset in output()); false on timeout.
    bool wait_for(std::string_view needle, std::chrono::milliseconds timeout = 20s, size_t from = 0);
    /// Everything the terminal received so far (unless discarding).
    const std::string& output() const { return output_; }
    /// Count output without keeping it (benchmarks that print hundreds of megabytes).
    void discard_output() { keep_output_ = false; }
    size_t bytes_received() const { return received_; }
    /// When the first output byte arrived (steady clock), once it has.
    std::optional<std::chrono::steady_clock::time_point> first_output() const { return first_output_; }
    std::optional<int> wait(std::chrono::milliseconds timeout);
    pid_t pid() const { return pid_; }

private:
    void pump(std::chrono::milliseconds timeout);

    pid_t pid_ = -1;
    int master_ = -1;
    std::string output_;
    bool keep_output_ = true;
    size_t received_ = 0;
    std::optional<std::chrono::steady_clock::time_point> first_output_;
    std::optional<int> status_;
};

/// Polls `condition` every 50 ms until it holds; false on timeout.
template <typename F>
bool eventually(F condition, std::chrono::milliseconds timeout = 20s);

/// A running process's peak resident set (VmHWM) in MB; nullopt once it has exited.
std::optional<double> peak_rss_mb(pid_t pid);
/// A running process's user+system CPU seconds so far (/proc/PID/stat utime+stime); nullopt once it has exited.
std::optional<double> cpu_seconds(pid_t pid);

}  // namespace execaudit::testing

#include <thread>

template <typename F>
bool execaudit::testing::eventually(F condition, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return condition();
}
