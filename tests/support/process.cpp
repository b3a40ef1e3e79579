#include "tests/support/process.h"

#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace execaudit::testing {
namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> out;
    for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
    out.push_back(nullptr);
    return out;
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

std::optional<int> wait_pid(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return decode_status(status);
        if (r < 0) return -1;
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(10ms);
    }
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) throw std::runtime_error("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        auto args = c_argv(argv);
        execvp(args[0], args.data());
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    RunResult result;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            char buf[65536];
            ssize_t n = read(fds[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            } else {
                (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) close(f.fd);
    auto code = wait_pid(pid, 5s);
    if (!code) {
        kill(pid, SIGKILL);
        code = wait_pid(pid, 5s);
    }
    result.exit_code = std::chrono::steady_clock::now() >= deadline ? -1 : code.value_or(-1);
    return result;
}

Process::Process(const std::vector<std::string>& argv, const std::string& log_path) {
    pid_ = fork();
    if (pid_ == 0) {
        int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(log, 1);
        dup2(log, 2);
        setpgid(0, 0);
        auto args = c_argv(argv);
        execvp(args[0], args.data());
        _exit(127);
    }
    if (pid_ < 0) throw std::runtime_error("fork");
}

Process::~Process() {
    if (pid_ > 0 && !status_) {
        kill(pid_, SIGKILL);
        wait_pid(pid_, 10s);
    }
}

void Process::signal(int signo) const { kill(pid_, signo); }

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
    if (!status_) status_ = wait_pid(pid_, timeout);
    return status_;
}

bool Process::running() { return !wait(0ms).has_value(); }

PtyProcess::PtyProcess(const std::vector<std::string>& argv, int rows, int cols) {
    winsize ws{};
    ws.ws_row = static_cast<unsigned short>(rows);
    ws.ws_col = static_cast<unsigned short>(cols);
    pid_ = forkpty(&master_, nullptr, nullptr, &ws);
    if (pid_ == 0) {
        auto args = c_argv(argv);
        execvp(args[0], args.data());
        _exit(127);
    }
    if (pid_ < 0) throw std::runtime_error(std::string("forkpty: ") + std::strerror(errno));
    fcntl(master_, F_SETFL, fcntl(master_, F_GETFL) | O_NONBLOCK);
}

PtyProcess::~PtyProcess() {
    if (pid_ > 0 && !status_) {
        kill(pid_, SIGKILL);
        wait_pid(pid_, 10s);
    }
    if (master_ >= 0) close(master_);
}

size_t PtyProcess::type(std::string_view keys) {
    size_t done = 0;
    while (done < keys.size()) {
        ssize_t n = write(master_, keys.data() + done, keys.size() - done);
        if (n > 0) done += static_cast<size_t>(n);
        else if (errno == EAGAIN) pump(10ms);
        else break;
    }
    return done;
}

void PtyProcess::pump(std::chrono::milliseconds timeout) {
    pollfd p{master_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return;
    char buf[65536];
    for (;;) {
        ssize_t n = read(master_, buf, sizeof(buf));
        if (n <= 0) break;
        if (!first_output_) first_output_ = std::chrono::steady_clock::now();
        received_ += static_cast<size_t>(n);
        if (keep_output_) output_.append(buf, static_cast<size_t>(n));
    }
}

bool PtyProcess::wait_for(std::string_view needle, std::chrono::milliseconds timeout, size_t from) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (output_.size() > from && output_.find(needle, from) != std::string::npos) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        pump(50ms);
    }
}

std::optional<int> PtyProcess::wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!status_) {
        pump(10ms);  // keep the pty drained so the child can finish writing
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) status_ = decode_status(status);
        else if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    }
    return status_;
}

std::optional<double> peak_rss_mb(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.starts_with("VmHWM:")) return std::stod(line.substr(6)) / 1024.0;
    return std::nullopt;
}

std::optional<double> cpu_seconds(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    // the command name (field 2) may hold spaces and parentheses: count fields after its last ')'
    size_t close = text.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(text.substr(close + 1));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace execaudit::testing
