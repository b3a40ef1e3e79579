#pragma once
// Idle compression, as in asciinema: a pause between two events (frames or commands) longer
// than the idle limit plays as if it lasted the limit. This maps the recorded time axis to the
// played one and back. Positions are always recorded time (what the header shows, what commands
// are timed in); only the speed at which the clock moves through a long pause changes.

#include <cstdint>
#include <vector>

namespace execaudit::replay {

class TimeAxis {
public:
    /// `events`: times of the things worth seeing (any order, duplicates allowed).
    /// `idle_limit_us` 0: no compression.
    TimeAxis(std::vector<uint64_t> events, uint64_t duration_us, uint64_t idle_limit_us);

    uint64_t to_played(uint64_t recorded_us) const;
    /// The recorded time reached after playing `played_us`; it jumps over the cut part of a pause.
    uint64_t to_recorded(uint64_t played_us) const;
    uint64_t played_duration() const { return played_.empty() ? 0 : played_.back(); }

private:
    std::vector<uint64_t> events_;  // sorted, unique, starting at 0, ending at the duration
    std::vector<uint64_t> played_;  // played time of each event
    uint64_t limit_;  // no limit: the largest value
};

}  // namespace execaudit::replay
