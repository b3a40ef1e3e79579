#pragma once
// Prometheus text exposition of the recorder's counters (/metrics) and a liveness answer
// (/healthz). Everything is read on the io_context thread, where the counters live.

#include "recorder/http_server.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace execaudit::recorder {

struct Metric {
    std::string name;  ///< without the execaudit_ prefix
    std::string help;
    std::string type;  ///< counter | gauge
    double value = 0;
};

/// The exposition format: # HELP, # TYPE and one sample per metric, prefixed execaudit_.
std::string render_metrics(const std::vector<Metric>& metrics);

/// /metrics from `collect`, /healthz, 404 elsewhere.
HttpHandler make_metrics_handler(std::function<std::vector<Metric>()> collect);

}  // namespace execaudit::recorder
