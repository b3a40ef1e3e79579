#pragma once
// `execaudit trace`: the raw kernel events as JSON lines on stdout, for debugging the kernel
// side. Nothing is stored.

#include <string>
#include <vector>

namespace execaudit::recorder {

struct TraceOptions {
    std::vector<std::string> cgroup_roots;
    size_t ring_buffer_mb = 16;
};

int run_trace(const TraceOptions& options);

}  // namespace execaudit::recorder
