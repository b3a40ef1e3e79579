#include "tests/support/testbed.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>

namespace execaudit::testing {
namespace {

std::string testbed_script() { return source_dir() + "/scripts/testbed"; }

int next_run() {
    static int run = 0;
    return ++run;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::mutex& lease_mutex() {
    static std::mutex m;
    return m;
}
std::map<std::string, int>& lease_counts() {
    static std::map<std::string, int> m;
    return m;
}

}  // namespace

std::string PinDirLease::path_for(const std::string& db_path) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : std::filesystem::absolute(db_path).string()) h = (h ^ c) * 0x100000001b3ULL;
    char name[17];
    std::snprintf(name, sizeof(name), "%016llx", static_cast<unsigned long long>(h));
    return std::string("/sys/fs/bpf/execaudit-tests/") + name;
}

PinDirLease::PinDirLease(const std::string& db_path) : path_(path_for(db_path)) {
    std::lock_guard lock(lease_mutex());
    ++lease_counts()[path_];
}

PinDirLease::~PinDirLease() {
    std::lock_guard lock(lease_mutex());
    if (--lease_counts()[path_] > 0) return;
    lease_counts().erase(path_);
    std::error_code ec;
    if (!std::filesystem::exists(path_, ec)) return;
    auto r = run({execaudit_bin(), "detach", "--bpf-pin-dir", path_}, 60s);
    if (r.exit_code != 0) ADD_FAILURE() << "execaudit detach --bpf-pin-dir " << path_ << ": " << r.err << r.out;
}

Testbed::Testbed() {
    auto r = run({testbed_script(), "up", node_dir()}, 60s);
    if (r.exit_code != 0) throw std::runtime_error("testbed up failed: " + r.err + r.out);
    cgroup_root_ = trim(r.out);
}

Testbed::~Testbed() { run({testbed_script(), "down", node_dir()}, 60s); }

std::string Testbed::run_container(const std::string& ns, const std::string& pod, const std::string& container,
                                   const std::vector<std::string>& command, bool tty, const std::string& pod_uid) {
    std::vector<std::string> argv = {testbed_script(), "run", node_dir(), ns, pod, container};
    if (tty) argv.push_back("--tty");
    if (!pod_uid.empty()) argv.insert(argv.end(), {"--pod-uid", pod_uid});
    if (!command.empty()) {
        argv.push_back("--");
        argv.insert(argv.end(), command.begin(), command.end());
    }
    auto r = run(argv, 60s);
    if (r.exit_code != 0) throw std::runtime_error("testbed run failed: " + r.err + r.out);
    return trim(r.out);
}

std::vector<std::string> Testbed::ctr(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {testbed_script(), "ctr", node_dir()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

std::vector<std::string> Testbed::exec_tty(const std::string& container_id, const std::string& exec_id,
                                           const std::vector<std::string>& command) const {
    std::vector<std::string> args = {"task", "exec", "-t", "--exec-id", exec_id, container_id};
    args.insert(args.end(), command.begin(), command.end());
    return ctr(args);
}

std::vector<std::string> Testbed::exec(const std::string& container_id, const std::string& exec_id,
                                       const std::vector<std::string>& command) const {
    std::vector<std::string> args = {"task", "exec", "--exec-id", exec_id, container_id};
    args.insert(args.end(), command.begin(), command.end());
    return ctr(args);
}

std::string Testbed::pod_uid(const std::string& ns, const std::string& pod) const {
    std::string prefix = ns + "_" + pod + "_";
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(pods_log_dir(), ec)) {
        std::string name = e.path().filename().string();
        if (name.rfind(prefix, 0) == 0) return name.substr(prefix.size());
    }
    return "";
}

Recorder::Recorder(const Testbed& bed, const std::string& db_path, std::vector<std::string> extra_args,
                   const std::string& log_path)
    : log_path_(!log_path.empty() ? log_path : db_path + ".recorder-" + std::to_string(next_run()) + ".log") {  // its own "ready" line
    std::vector<std::string> argv = {execaudit_bin(), "record", "--db", db_path, "--cgroup-root", bed.cgroup_root(),
                                     "--pods-log-dir", bed.pods_log_dir(), "--containers-log-dir", bed.containers_log_dir()};
    if (std::find(extra_args.begin(), extra_args.end(), "--node-name") == extra_args.end())
        argv.insert(argv.end(), {"--node-name", "test-node"});
    bool own_pins = std::none_of(extra_args.begin(), extra_args.end(),
                                 [](const std::string& a) { return a == "--bpf-pin-dir" || a == "--no-bpf-pin"; });
    if (own_pins) {
        pins_ = std::make_unique<PinDirLease>(db_path);
        argv.insert(argv.end(), {"--bpf-pin-dir", pins_->path()});
    }
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    process_ = std::make_unique<Process>(argv, log_path_);
    bool ready = eventually([&] { return log().find("execaudit record: ready") != std::string::npos || !process_->running(); }, 30s);
    if (!ready || !process_->running()) throw std::runtime_error("recorder did not start:\n" + log());
}

Recorder::~Recorder() {
    if (process_ && process_->running()) stop();
    process_.reset();  // gone before its pins are released
    pins_.reset();
}

int Recorder::stop() {
    process_->signal(SIGTERM);
    auto code = process_->wait(30s);
    return code.value_or(-1);
}

std::string Recorder::log() const { return read_file(log_path_); }

::testing::AssertionResult run_in(PtyProcess& shell, const std::string& command, std::chrono::milliseconds timeout, size_t* typed) {
    static int n = 0;
    std::string marker = "done-" + std::to_string(++n);
    size_t from = shell.output().size();
    size_t bytes = shell.type(command + "; echo " + marker.substr(0, 2) + "''" + marker.substr(2) + "\r");
    if (typed) *typed += bytes;
    if (!shell.wait_for(marker, timeout, from))
        return ::testing::AssertionFailure() << "no " << marker << " after " << command << ":\n" << shell.output().substr(from);
    return ::testing::AssertionSuccess();
}

nlohmann::json list_sessions(const std::string& db, const std::vector<std::string>& filters) {
    std::vector<std::string> argv = {execaudit_bin(), "sessions", "--db", db, "--format", "json"};
    argv.insert(argv.end(), filters.begin(), filters.end());
    auto r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
}

nlohmann::json show_session(const std::string& db, const std::string& id) {
    auto r = run({execaudit_bin(), "show", id, "--db", db, "--format", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out);
}

std::string play_cat(const std::string& db, const std::string& id) {
    auto r = run({execaudit_bin(), "play", id, "--cat", "--db", db});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
}

}  // namespace execaudit::testing
