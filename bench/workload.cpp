#include "bench/workload.h"

#include <fmt/format.h>

#include <fstream>
#include <random>

namespace execaudit::bench {

void write_text_file(const std::string& path, size_t bytes) {
    std::ofstream out(path, std::ios::binary);
    std::mt19937 rng(42);
    static const char* words[] = {"GET",    "POST",  "/api/v1/orders", "200",   "404",     "user=alice", "latency_ms=",
                                  "INFO",   "WARN",  "connection",     "reset", "upstream", "cache",      "miss",
                                  "hit",    "retry", "timeout",        "pod",   "node-3",   "shard=17",   "ok"};
    size_t written = 0;
    std::string line;
    while (written < bytes) {
        line = fmt::format("2026-11-24T12:{:02}:{:02}.{:06}Z", rng() % 60, rng() % 60, rng() % 1000000);
        int n = 4 + static_cast<int>(rng() % 14);
        for (int i = 0; i < n; ++i) {
            line += ' ';
            line += words[rng() % (sizeof(words) / sizeof(*words))];
            if (rng() % 4 == 0) line += std::to_string(rng() % 100000);
        }
        line += '\n';
        out << line;
        written += line.size();
    }
}

}  // namespace execaudit::bench
