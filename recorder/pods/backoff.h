#pragma once
// Exponential backoff with full jitter between a floor and a ceiling (Envoy's
// ExponentialBackOffStrategy, AWS's "full jitter"): many nodes that lost the API server at the same
// moment do not come back at the same moment.

#include <algorithm>
#include <chrono>
#include <random>

namespace execaudit::recorder {

class Backoff {
public:
    using Duration = std::chrono::milliseconds;
    Backoff(Duration floor, Duration ceiling) : floor_(floor), ceiling_(std::max(floor, ceiling)), next_(floor) {}

    /// The next wait: uniform in [floor, current bound]; the bound doubles up to the ceiling.
    Duration next() {
        std::uniform_int_distribution<long long> pick(floor_.count(), next_.count());
        Duration wait(pick(random_));
        next_ = std::min(ceiling_, next_ * 2);
        return wait;
    }
    void reset() { next_ = floor_; }

private:
    Duration floor_, ceiling_, next_;
    std::minstd_rand random_{std::random_device{}()};
};

}  // namespace execaudit::recorder
