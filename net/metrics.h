#pragma once
// Prometheus text exposition of the recorder's counters (/metrics), a liveness answer (/healthz:
// the event loop runs) and a readiness answer (/readyz: the service can do its job; what that means
// is the caller's check). Everything is read on the io_context thread, where the counters live.

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

/// The exposition format, prefixed execaudit_: # HELP and # TYPE once per name, then every sample
/// of that name (metrics of one name are grouped, in the order their names first appear; help
/// and labels escaped as the format requires).
std::string render_metrics(const std::vector<Metric>& metrics);

/// Why the service is not ready, or "" when it is.
using ReadinessCheck = std::function<std::string()>;

/// /metrics from `collect`; /healthz (200 while the event loop answers); /readyz (200 "ready", or
/// 503 "not ready: REASON" from `not_ready`; 404 without a check); 404 elsewhere. Runs where the
/// server calls it (its own thread): wrap it with on_executor when `collect` reads another
/// thread's counters (then /healthz also proves that thread's loop answers).
HttpHandler make_metrics_handler(std::function<std::vector<Metric>()> collect, ReadinessCheck not_ready = {});

}  // namespace execaudit::net
