#pragma once
// The player without a terminal: a position on the session's time axis and the emulated screen
// at that position; a clock that plays at a speed with idle compression; seeking, command by
// command stepping and search. Everything here is deterministic and unit-tested; the ncurses
// view (player_view.h) only draws it and the key handling (player_keys.h) only drives it.

#include "replay/keyframed_screen.h"
#include "replay/output_search.h"
#include "replay/recording.h"
#include "replay/time_axis.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::replay {

struct PlaybackOptions {
    double speed = 1.0;                   ///< clamped to 0.25 .. 16
    static constexpr uint64_t kDefaultIdleLimitUs = 2'000'000;
    /// With idle compression, pauses longer than this play as this long; 0: the default. Kept
    /// when compression starts off, so turning it on (the `i` key) always compresses.
    uint64_t idle_limit_us = kDefaultIdleLimitUs;
    bool idle_compression = true;
    KeyframedScreen::Options keyframes;
};

struct SearchHit {
    uint64_t offset_us = 0;
    size_t number = 0;  ///< 1-based, in time order
    size_t total = 0;   ///< matches in the session (counting stops at a cap)
    bool wrapped = false;
};

class Playback {
public:
    static constexpr double kMinSpeed = 0.25;
    static constexpr double kMaxSpeed = 16.0;
    static constexpr size_t kCountCap = 9999;

    Playback(const Recording& recording, PlaybackOptions options);

    const Recording& recording() const { return recording_; }
    const TerminalScreen& screen() const { return screen_.screen(); }
    uint64_t generation() const { return screen_.generation(); }

    uint64_t position_us() const { return position_us_; }
    uint64_t duration_us() const { return duration_us_; }
    bool at_end() const { return position_us_ >= duration_us_; }

    bool playing() const { return playing_; }
    /// Playing at the end starts again from the beginning.
    void set_playing(bool playing);
    double speed() const { return speed_; }
    void set_speed(double speed);
    /// The next step in 0.25, 0.5, 1, 2, 4, 8, 16.
    void faster();
    void slower();
    bool idle_compression() const { return options_.idle_compression; }
    uint64_t idle_limit_us() const { return options_.idle_limit_us; }
    void set_idle_compression(bool on);

    /// Moves the clock by `real_us` of wall time (times the speed, idle pauses shortened); stops
    /// at the end. Does nothing while paused.
    void advance(uint64_t real_us);
    /// Wall time until the screen next changes at this speed; nullopt when paused or at the end.
    std::optional<uint64_t> real_us_until_next_event() const;

    /// Exactly the screen playing from the start to `offset_us` shows (clamped to the duration).
    void seek(uint64_t offset_us);
    void seek_by(int64_t delta_us);

    /// The last command run at or before the position; after next/previous_command, the command
    /// they went to, also among several run at the same microsecond (a pipeline's).
    std::optional<size_t> current_command() const;
    /// Jumps to the next command (one at a time, even at the same time); false when there is none.
    bool next_command();
    /// Jumps to the current command's start, or to the previous command when within a second of it.
    bool previous_command();

    /// Finds `needle` (any case) in the output after (or before) the position or the last match,
    /// wrapping around, and seeks to when it was shown. nullopt when the session never printed it.
    std::optional<SearchHit> search(std::string_view needle, bool forward = true);

    /// Builds keyframes in the background for up to `budget_us`; true when all are built.
    bool index_some(uint64_t budget_us);
    const KeyframedScreen& keyframes() const { return screen_; }

private:
    void rebuild_axis();
    void show(uint64_t offset_us);
    /// Seeks to command `command_index`'s time and makes it the current one.
    bool step_to(size_t command_index);

    const Recording& recording_;
    PlaybackOptions options_;
    KeyframedScreen screen_;
    uint64_t duration_us_;
    std::vector<uint64_t> events_;  // frame and command times, sorted: what idle compression keeps
    std::unique_ptr<TimeAxis> axis_;
    uint64_t position_us_ = 0;
    std::optional<size_t> stepped_to_;  ///< the command next/previous_command went to; cleared by seek
    double played_us_ = 0;  // the clock, on the played (compressed) axis
    bool playing_ = false;
    double speed_ = 1.0;

    std::unique_ptr<OutputSearch> search_;  // built on the first search
    std::string last_needle_;
    size_t last_total_ = 0;
    std::optional<size_t> last_hit_;  // text position of the last match
    uint64_t last_hit_offset_ = 0;
};

}  // namespace execaudit::replay
