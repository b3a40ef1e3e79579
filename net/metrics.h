#pragma once
// Prometheus text exposition of the recorder's counters (/metrics) and a liveness answer
// (/healthz). Everything is read on the io_context thread, where the counters live.

#include "net/http_server.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace execaudit::net {

struct Metric {
    std::string name;  ///< without the execaudit_ prefix
    std::string help;
    std::string type;  ///< counter | gauge
    double value = 0;
    std::vector<std::pair<std::string, std::string>> labels = {};
};

/// The exposition format, prefixed execaudit_: # HELP and # TYPE once per name, then a sample
/// per metric (labels escaped as the format requires).
std::string render_metrics(const std::vector<Metric>& metrics);

/// /metrics from `collect`, /healthz, 404 elsewhere. Runs where the server calls it (its own
/// thread): wrap it with on_executor when `collect` reads another thread's counters.
HttpHandler make_metrics_handler(std::function<std::vector<Metric>()> collect);

}  // namespace execaudit::net
