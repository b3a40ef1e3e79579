#include "replay/playback.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace execaudit::replay {
namespace {

constexpr std::array<double, 7> kSpeeds = {0.25, 0.5, 1, 2, 4, 8, 16};
constexpr uint64_t kRestartWindowUs = 1'000'000;

}  // namespace

Playback::Playback(const Recording& recording, PlaybackOptions options)
    : recording_(recording),
      options_(options),
      screen_(recording, options.keyframes),
      duration_us_(recording.duration_us()) {
    if (!options_.idle_limit_us) options_.idle_limit_us = PlaybackOptions::kDefaultIdleLimitUs;
    events_.reserve(recording.frames().size() + recording.commands().size());
    for (const auto& f : recording.frames()) events_.push_back(f.offset_us);
    for (const auto& c : recording.commands()) events_.push_back(c.offset_us);
    std::sort(events_.begin(), events_.end());
    events_.erase(std::unique(events_.begin(), events_.end()), events_.end());
    set_speed(options.speed);
    rebuild_axis();
    show(0);
}

void Playback::rebuild_axis() {
    axis_ = std::make_unique<TimeAxis>(events_, duration_us_, options_.idle_compression ? options_.idle_limit_us : 0);
    played_us_ = static_cast<double>(axis_->to_played(position_us_));
}

void Playback::show(uint64_t offset_us) {
    position_us_ = std::min(offset_us, duration_us_);
    const auto& frames = recording_.frames();
    // Every frame at or before the position has been shown.
    auto end = std::upper_bound(frames.begin(), frames.end(), position_us_,
                                [](uint64_t t, const PlayFrame& f) { return t < f.offset_us; });
    screen_.go_to(static_cast<size_t>(end - frames.begin()));
}

void Playback::set_playing(bool playing) {
    if (playing && at_end()) seek(0);
    playing_ = playing;
}

void Playback::set_speed(double speed) {
    if (!std::isfinite(speed)) speed = 1.0;
    speed_ = std::clamp(speed, kMinSpeed, kMaxSpeed);
}

void Playback::faster() {
    for (double s : kSpeeds)
        if (s > speed_ + 1e-9) {
            speed_ = s;
            return;
        }
}

void Playback::slower() {
    for (auto it = kSpeeds.rbegin(); it != kSpeeds.rend(); ++it)
        if (*it < speed_ - 1e-9) {
            speed_ = *it;
            return;
        }
}

void Playback::set_idle_compression(bool on) {
    if (on == options_.idle_compression) return;
    options_.idle_compression = on;
    rebuild_axis();  // the position stays; only how fast the clock crosses pauses changes
}

void Playback::advance(uint64_t real_us) {
    if (!playing_) return;
    played_us_ += static_cast<double>(real_us) * speed_;
    uint64_t played = static_cast<uint64_t>(played_us_);
    if (played >= axis_->played_duration()) {
        show(duration_us_);
        playing_ = false;
        return;
    }
    show(axis_->to_recorded(played));
}

std::optional<uint64_t> Playback::real_us_until_next_event() const {
    if (!playing_ || at_end()) return std::nullopt;
    auto next = std::upper_bound(events_.begin(), events_.end(), position_us_);
    uint64_t next_time = next == events_.end() ? duration_us_ : *next;
    double wait = (static_cast<double>(axis_->to_played(next_time)) - played_us_) / speed_;
    return wait <= 0 ? 0 : static_cast<uint64_t>(wait);
}

void Playback::seek(uint64_t offset_us) {
    stepped_to_.reset();
    show(offset_us);
    played_us_ = static_cast<double>(axis_->to_played(position_us_));
}

void Playback::seek_by(int64_t delta_us) {
    int64_t target = static_cast<int64_t>(position_us_) + delta_us;
    seek(target < 0 ? 0 : static_cast<uint64_t>(target));
}

std::optional<size_t> Playback::current_command() const {
    const auto& cmds = recording_.commands();
    if (stepped_to_ && cmds[*stepped_to_].offset_us == position_us_) return stepped_to_;
    auto it = std::upper_bound(cmds.begin(), cmds.end(), position_us_,
                               [](uint64_t t, const TimedCommand& c) { return t < c.offset_us; });
    if (it == cmds.begin()) return std::nullopt;
    return static_cast<size_t>(it - cmds.begin()) - 1;
}

bool Playback::next_command() {
    auto current = current_command();
    size_t next = current ? *current + 1 : 0;
    return step_to(next);
}

bool Playback::step_to(size_t index) {
    const auto& cmds = recording_.commands();
    if (index >= cmds.size()) return false;
    seek(cmds[index].offset_us);
    stepped_to_ = index;
    return true;
}

bool Playback::previous_command() {
    auto current = current_command();
    if (!current) return false;
    const auto& cmds = recording_.commands();
    if (position_us_ - cmds[*current].offset_us >= kRestartWindowUs) return step_to(*current);
    return *current > 0 && step_to(*current - 1);
}

std::optional<SearchHit> Playback::search(std::string_view given, bool forward) {
    std::string needle = OutputSearch::fold(given);
    if (needle.empty()) return std::nullopt;
    if (!search_) search_ = std::make_unique<OutputSearch>(recording_);
    bool continuing = needle == last_needle_ && last_hit_ && position_us_ == last_hit_offset_;
    size_t cursor = continuing ? (forward ? *last_hit_ + 1 : *last_hit_) : search_->text_pos_at(position_us_);
    SearchHit hit;
    auto found = forward ? search_->find_forward(needle, cursor) : search_->find_backward(needle, cursor);
    if (!found) {
        found = forward ? search_->find_forward(needle, 0) : search_->find_backward(needle, search_->text().size());
        hit.wrapped = true;
    }
    if (needle != last_needle_) last_total_ = search_->count(needle, search_->text().size(), kCountCap);
    last_needle_ = needle;
    if (!found) {
        last_hit_.reset();
        return std::nullopt;
    }
    last_hit_ = *found;
    // Seek to when its last character was shown, so the match is on the screen.
    hit.offset_us = search_->time_of(*found + needle.size() - 1);
    seek(hit.offset_us);
    last_hit_offset_ = position_us_;
    hit.number = search_->count(needle, *found + 1, kCountCap);
    hit.total = last_total_;
    return hit;
}

bool Playback::index_some(uint64_t budget_us) { return screen_.index_some(std::chrono::microseconds(budget_us)); }

}  // namespace execaudit::replay
