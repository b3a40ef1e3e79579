#include "tests/support/tmux.h"

#include "tests/support/process.h"

#include <unistd.h>

#include <fstream>
#include <functional>
#include <regex>
#include <stdexcept>
#include <thread>

namespace execaudit::testing {
namespace {

std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace

Tmux::Tmux(int rows, int cols, const std::vector<std::string>& argv) {
    static int n = 0;
    socket_ = "execaudit-test-" + std::to_string(getpid()) + "-" + std::to_string(++n);
    std::ofstream(dir_.file("tmux.conf")) << "set -g remain-on-exit on\n"
                                             "set -g status off\n"
                                             "set -g default-terminal tmux-256color\n"
                                             "set -g escape-time 0\n";
    // The shell stays after the program, and says how it ended: readable whatever tmux keeps.
    std::string command = "env LANG=C.UTF-8 LC_ALL=C.UTF-8";
    for (const auto& a : argv) command += " " + quote(a);
    command += "; printf '\\n[exited %d]\\n' $?; exec sleep 3600";
    auto r = run({"tmux", "-L", socket_, "-f", dir_.file("tmux.conf"), "new-session", "-d", "-s", "t", "-x", std::to_string(cols), "-y",
                  std::to_string(rows), command});
    if (r.exit_code != 0) throw std::runtime_error("tmux new-session: " + r.err);
}

Tmux::~Tmux() { run({"tmux", "-L", socket_, "kill-server"}); }

std::vector<std::string> Tmux::tmux(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"tmux", "-L", socket_};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

void Tmux::keys(const std::vector<std::string>& keys) {
    std::vector<std::string> args = {"send-keys", "-t", "t"};
    args.insert(args.end(), keys.begin(), keys.end());
    run(tmux(args));
}

void Tmux::type(const std::string& text) { run(tmux({"send-keys", "-t", "t", "-l", text})); }

std::string Tmux::screen() const { return run(tmux({"capture-pane", "-p", "-t", "t"})).out; }

std::string Tmux::settled() const {
    std::string last = screen();
    for (int i = 0; i < 100; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        std::string now = screen();
        if (now == last) return now;
        last = now;
    }
    return last;
}

bool Tmux::wait_until(const std::function<bool(const std::string&)>& ok, std::chrono::milliseconds timeout) const {
    return eventually([&] { return ok(screen()); }, timeout);
}

bool Tmux::wait_for(const std::string& needle, std::chrono::milliseconds timeout) const {
    return wait_until([&](const std::string& s) { return s.find(needle) != std::string::npos; }, timeout);
}

std::optional<int> Tmux::program_pid() const {
    // the pane runs a shell, and the program is its child (the shell stays after it: see above)
    std::string shell = trim(run(tmux({"display-message", "-p", "-t", "t", "#{pane_pid}"})).out);
    std::ifstream children("/proc/" + shell + "/task/" + shell + "/children");
    int pid = 0;
    if (children >> pid) {
        std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
        std::string name;
        if (comm >> name && name != "sleep") return pid;
    }
    return std::nullopt;
}

std::string Tmux::pane_title() const { return trim(run(tmux({"display-message", "-p", "-t", "t", "#{pane_title}"})).out); }

std::optional<int> Tmux::exit_status() const {
    std::string s = screen();
    size_t at = s.rfind("[exited ");
    if (at == std::string::npos) return std::nullopt;
    return std::atoi(s.c_str() + at + 8);
}

void Tmux::resize(int rows, int cols) {
    run(tmux({"resize-window", "-t", "t", "-x", std::to_string(cols), "-y", std::to_string(rows)}));
}

std::vector<std::string> play_argv(const std::string& db, const std::string& id, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {execaudit_bin(), "play", id, "--db", db};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

long shown_tenths(const std::string& screen) {
    std::smatch m;
    static const std::regex clock(R"((\d+):(\d\d)\.(\d) / )");
    if (!std::regex_search(screen, m, clock)) return -1;
    return (std::stol(m[1]) * 60 + std::stol(m[2])) * 10 + std::stol(m[3]);
}

}  // namespace execaudit::testing
