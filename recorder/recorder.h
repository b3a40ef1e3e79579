#pragma once
// `execaudit record`: the node agent. Loads the BPF programs, turns their events into sessions
// and stores them, until SIGTERM/SIGINT; then flushes everything and returns 0.

#include "recorder/export_settings.h"

#include <cstddef>
#include <string>
#include <vector>

namespace execaudit::recorder {

struct RecordOptions {
    std::string db_path;
    std::vector<std::string> cgroup_roots;  ///< empty: detect the kubelet's
    std::string node_name;                  ///< empty: hostname
    std::string pods_log_dir = "/var/log/pods";
    std::string containers_log_dir = "/var/log/containers";
    size_t ring_buffer_mb = 16;
    ExportSettings exports;  ///< --export-jsonl / --export-syslog
};

/// Runs until a signal. Throws UsageError / RuntimeError for start-up failures.
int run_record(const RecordOptions& options);

}  // namespace execaudit::recorder
