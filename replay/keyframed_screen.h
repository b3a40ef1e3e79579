#pragma once
// The emulator placed at any frame of a recording, exactly and fast. Every `keyframe_bytes` of
// output it keeps the emulator's complete state (compressed), so reaching a frame replays at most
// that much output after restoring the keyframe before it. Keyframes are built ahead of time in
// small slices (index_some, between the player's frames) or when a seek goes past them.
// Their number is bounded (`max_keyframes`): a longer session spaces them further apart, so an
// 8-hour session costs the same memory as a 30-minute one and a seek replays a little more.

#include "replay/recording.h"
#include "replay/terminal_screen.h"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace execaudit::replay {

class KeyframedScreen {
public:
    struct Options {
        size_t keyframe_bytes = 128 * 1024;  ///< output replayed at most after a keyframe
        size_t keyframe_frames = 20000;      ///< ... and at most this many frames
        /// Both spacings grow so that a recording has about this many keyframes at most.
        size_t max_keyframes = 1024;
    };

    KeyframedScreen(const Recording& recording, Options options);
    explicit KeyframedScreen(const Recording& recording) : KeyframedScreen(recording, Options{}) {}
    ~KeyframedScreen();

    const TerminalScreen& screen() const { return *screen_; }
    /// The screen shows frames [0, applied()).
    size_t applied() const { return applied_; }
    /// Puts the screen exactly where playing frames [0, frame_end) from the start puts it.
    void go_to(size_t frame_end);
    /// Builds keyframes for up to `budget`; the screen does not change. True when all are built.
    bool index_some(std::chrono::microseconds budget);
    bool indexed() const { return indexed_to_ >= frames_.size(); }
    size_t keyframes() const { return keyframes_.size(); }
    size_t keyframe_memory() const;
    /// The spacing in use (Options, grown for a long recording).
    size_t keyframe_bytes() const { return options_.keyframe_bytes; }
    /// Changes whenever the screen does: the view redraws when it moves.
    uint64_t generation() const { return generation_; }

private:
    struct Keyframe {
        size_t frame = 0;  // the state before frames_[frame] is applied
        std::string compressed;
        size_t raw_size = 0;
        int rows = 0, cols = 0;
        bool cursor_visible = true;
        int scan = 0;
        std::string pending;
        std::string last_glyph;
        std::string text_pending;
    };
    struct Codec;

    void apply(size_t from, size_t to);
    void restore(const Keyframe& k);
    void add_keyframe();
    /// Where the keyframe after the last one goes (or the end of the frames).
    size_t next_keyframe_point() const;
    /// From the last keyframe, plays to the next keyframe point and keeps it (or to the end).
    void index_next();
    /// index_next, given that point.
    void index_to(size_t end);

    const Recording& recording_;
    const std::vector<PlayFrame>& frames_;
    Options options_;
    std::unique_ptr<TerminalScreen> screen_;
    std::unique_ptr<Codec> codec_;
    std::vector<Keyframe> keyframes_;
    size_t indexed_to_ = 0;  // frames before this have their keyframes
    size_t applied_ = 0;
    uint64_t generation_ = 0;
    TerminalScreen::Snapshot scratch_;  // reused: keyframes on their way in and out
    TerminalScreen::Snapshot view_;     // reused: the screen kept aside while indexing
};

}  // namespace execaudit::replay
