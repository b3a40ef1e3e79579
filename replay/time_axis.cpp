#include "replay/time_axis.h"

#include <algorithm>
#include <limits>

namespace execaudit::replay {

TimeAxis::TimeAxis(std::vector<uint64_t> events, uint64_t duration_us, uint64_t idle_limit_us)
    : events_(std::move(events)), limit_(idle_limit_us ? idle_limit_us : std::numeric_limits<uint64_t>::max()) {
    events_.push_back(0);
    events_.push_back(duration_us);
    std::sort(events_.begin(), events_.end());
    events_.erase(std::unique(events_.begin(), events_.end()), events_.end());
    while (events_.size() > 1 && events_.back() > duration_us) events_.pop_back();
    played_.reserve(events_.size());
    played_.push_back(0);
    for (size_t i = 1; i < events_.size(); ++i) played_.push_back(played_[i - 1] + std::min(events_[i] - events_[i - 1], limit_));
}

uint64_t TimeAxis::to_played(uint64_t t) const {
    auto it = std::upper_bound(events_.begin(), events_.end(), t);
    size_t i = static_cast<size_t>(it - events_.begin()) - 1;  // events_[0] == 0 <= t
    if (i + 1 >= events_.size()) return played_.back();
    uint64_t into = t - events_[i];
    return played_[i] + std::min(into, limit_);
}

uint64_t TimeAxis::to_recorded(uint64_t p) const {
    if (p >= played_.back()) return events_.back();
    auto it = std::upper_bound(played_.begin(), played_.end(), p);
    size_t i = static_cast<size_t>(it - played_.begin()) - 1;
    // p - played_[i] < min(gap, limit): within the part of the pause that is played
    return events_[i] + (p - played_[i]);
}

}  // namespace execaudit::replay
