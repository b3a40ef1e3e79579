#pragma once
// What `record --metrics` exposes: every component's counters, read on the io_context thread.

#include "recorder/attribution.h"
#include "recorder/capture.h"
#include "recorder/exporter.h"
#include "recorder/metrics.h"
#include "recorder/session_tracker.h"
#include "storage/store_writer.h"

#include <memory>
#include <vector>

namespace execaudit::recorder {

struct RecorderParts {
    const SessionTracker& tracker;
    const Attribution& attribution;
    const storage::StoreWriter& writer;
    const Capture* capture;  ///< null until the programs are loaded
    uint64_t malformed_records;
    const std::vector<std::unique_ptr<Exporter>>& exporters;
};

std::vector<Metric> recorder_metrics(const RecorderParts& parts);

}  // namespace execaudit::recorder
