#pragma once
// A private containerd with containers in the kubelet's layout (scripts/testbed), and the
// recorder running against it as a real process, queried through the real CLI.

#include "tests/support/environment.h"
#include "tests/support/process.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace execaudit::testing {

class Testbed {
public:
    Testbed();  ///< starts containerd; throws with its log when it does not start
    ~Testbed();  ///< kills every container and removes every cgroup, even after a failure

    /// Runs a container; returns its id. `tty`: the workload gets a terminal of its own.
    /// `pod_uid`: empty for a new pod; another container's to join its pod.
    std::string run_container(const std::string& ns, const std::string& pod, const std::string& container,
                              const std::vector<std::string>& command = {}, bool tty = false,
                              const std::string& pod_uid = "");
    /// argv for `ctr ARGS...` against this containerd.
    std::vector<std::string> ctr(const std::vector<std::string>& args) const;
    /// argv for an interactive exec: ctr task exec -t --exec-id ID CONTAINER CMD...
    std::vector<std::string> exec_tty(const std::string& container_id, const std::string& exec_id,
                                      const std::vector<std::string>& command) const;

    /// argv for a non-interactive exec (no tty), the way the kubelet runs exec probes and hooks:
    /// ctr task exec --exec-id ID CONTAINER CMD...
    std::vector<std::string> exec(const std::string& container_id, const std::string& exec_id,
                                  const std::vector<std::string>& command) const;
    /// The UID the testbed gave pod `ns`/`pod` (its kubelet log directory's); empty when it has none.
    std::string pod_uid(const std::string& ns, const std::string& pod) const;

    const std::string& cgroup_root() const { return cgroup_root_; }
    std::string pods_log_dir() const { return dir_.path() + "/node/logs/pods"; }
    std::string containers_log_dir() const { return dir_.path() + "/node/logs/containers"; }
    std::string node_dir() const { return dir_.path() + "/node"; }
    /// Every container's root: the host's /usr read-only, and /tmp shared between them.
    std::string rootfs() const { return node_dir() + "/rootfs"; }

private:
    TempDir dir_;
    std::string cgroup_root_;
};

/// A test database's own bpffs pin directory (/sys/fs/bpf/execaudit-tests/<hash of the path>), so
/// that tests never share kernel state. Held by each Recorder of that database (and by a test
/// that restarts its recorder); the last holder removes the pins (`execaudit detach`), which
/// detaches the programs they kept.
class PinDirLease {
public:
    explicit PinDirLease(const std::string& db_path);
    ~PinDirLease();
    PinDirLease(const PinDirLease&) = delete;
    PinDirLease& operator=(const PinDirLease&) = delete;
    const std::string& path() const { return path_; }
    static std::string path_for(const std::string& db_path);

private:
    std::string path_;
};

class Recorder {
public:
    /// Starts `execaudit record` against the testbed (--node-name test-node unless extra_args names
    /// one) and waits until it is ready. Unless
    /// extra_args has --bpf-pin-dir or --no-bpf-pin, it pins in the database's PinDirLease.
    /// `log_path`: where its stderr goes (default: beside the database).
    Recorder(const Testbed& bed, const std::string& db_path, std::vector<std::string> extra_args = {},
             const std::string& log_path = "");
    ~Recorder();

    /// SIGTERM, then the exit status (the contract: 0).
    int stop();
    std::string log() const;
    pid_t pid() const { return process_->pid(); }
    Process& process() { return *process_; }

private:
    std::string log_path_;
    std::unique_ptr<PinDirLease> pins_;  ///< released after the process is gone
    std::unique_ptr<Process> process_;
};

/// Types `command` into a shell and waits until the shell has run it: the marker typed after it
/// is printed only by the shell's own echo, so the echoed keystrokes never match it. `typed`,
/// when given, grows by the number of bytes typed.
::testing::AssertionResult run_in(PtyProcess& shell, const std::string& command, std::chrono::milliseconds timeout = 60s,
                                  size_t* typed = nullptr);

/// `execaudit sessions --format json` (with extra filters); fails the test on a non-zero exit.
nlohmann::json list_sessions(const std::string& db, const std::vector<std::string>& filters = {});
nlohmann::json show_session(const std::string& db, const std::string& id);
std::string play_cat(const std::string& db, const std::string& id);

}  // namespace execaudit::testing
