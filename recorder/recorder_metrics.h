#pragma once
// What `record --metrics` exposes: every component's counters, and whether the agent is ready
// (/readyz), read on the io_context thread.

#include "attribution/attribution.h"
#include "recorder/capture/capture.h"
#include "export/exporter.h"
#include "net/metrics.h"
#include "recorder/capture/session_tracker.h"
#include "storage/retention.h"
#include "recorder/pods/pod_cache.h"
#include "recorder/pods/pod_watcher.h"
#include "storage/store_writer.h"

#include <memory>
#include <vector>

namespace execaudit::recorder {

struct RecorderParts {
    const SessionTracker& tracker;
    const attribution::Attribution& attribution;
    const storage::StoreWriter& writer;
    const Capture* capture;  ///< null until the programs are loaded
    uint64_t malformed_records;
    const std::vector<std::unique_ptr<exporting::Exporter>>& exporters;
    const storage::Retention* retention;
    const PodWatcher* pod_watcher = nullptr;  ///< null: no API server configured
    const PodCache* pods = nullptr;
};

std::vector<net::Metric> recorder_metrics(const RecorderParts& parts);

/// /readyz: "" when the BPF programs are attached and the database is writable (its latest commit
/// succeeded, its file system is neither read-only nor full); else why not.
std::string recorder_not_ready(const RecorderParts& parts, const std::string& db_path);

}  // namespace execaudit::recorder
