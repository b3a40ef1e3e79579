#pragma once
// A /metrics body as Prometheus sees it: Prometheus' own `promtool check metrics` accepts it with
// no remarks, and every sample's family has # HELP and # TYPE before it.

#include <string>

namespace execaudit::testing {

/// Fails the current test (non-fatally) for each problem; `scratch_file` is where the body is
/// written for promtool.
void expect_prometheus_accepts(const std::string& body, const std::string& scratch_file);

}  // namespace execaudit::testing
