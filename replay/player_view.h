#pragma once
// The player's ncurses side: the terminal session (RAII) and the drawing of one frame. What it
// draws comes from the emulator's cells and from sanitized text, never from recorded bytes: no
// recorded byte can reach the analyst's terminal.

#include "replay/player_layout.h"
#include "replay/playback.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::replay {

/// ncurses on the controlling terminal: raw keys, no echo, colours when there are some. stderr
/// goes to /dev/null meanwhile, so nothing (libvterm's diagnostics included) scribbles on the
/// screen. Restores the terminal when destroyed, however the player ends.
class CursesSession {
public:
    CursesSession();  ///< throws UsageError when there is no usable terminal
    ~CursesSession();
    CursesSession(const CursesSession&) = delete;
    CursesSession& operator=(const CursesSession&) = delete;

    bool utf8() const { return utf8_; }

private:
    void* screen_ = nullptr;  // SCREEN*
    int saved_stderr_ = -1;
    bool utf8_ = false;
};

/// What the player draws besides the playback itself.
struct ViewState {
    bool show_timeline = true;
    int pan_row = 0, pan_col = 0;  ///< top-left cell of the recording shown, when clipped
    std::string message;           ///< for the status line (already safe to print)
    bool prompting = false;        ///< the search prompt is open
    std::string prompt;            ///< what was typed after '/'
    std::string search_status;     ///< after a search: where we are among the matches
    std::string highlight;         ///< text to highlight on the screen (the last search)
    bool help = false;

    bool operator==(const ViewState&) const = default;
};

class PlayerView {
public:
    PlayerView(const CursesSession& curses, const Recording& recording);

    /// Draws everything and updates the terminal, unless nothing shown changed since the last
    /// draw (the loop calls it on every pass). Clamps `state`'s panning to the layout.
    void draw(const Playback& playback, ViewState& state);
    /// The next draw draws, changed or not (after Ctrl-L).
    void invalidate() { drawn_.reset(); }
    /// The layout for the current terminal size.
    Layout layout(const Playback& playback, const ViewState& state) const;

private:
    void draw_header(const Playback& p, const Layout& l);
    void draw_screen(const Playback& p, const Layout& l, const ViewState& s);
    void draw_timeline(const Playback& p, const Layout& l);
    void draw_status(const Playback& p, const Layout& l, const ViewState& s);
    void draw_help();
    int pair(int fg, int bg);
    /// Timeline entries at or before `position_us`.
    size_t entries_passed(uint64_t position_us) const;

    // A command or a gap, in time order: built once, the recording does not change. Small: a
    // session has commands by the hundred thousand; its text is made when it is drawn.
    struct TimelineEntry {
        uint64_t at = 0;
        uint32_t index = 0;     ///< into the recording's commands, or its gaps
        bool is_command = false;
        bool alert = false;     ///< failed command or lost data: bold red
    };
    std::string entry_text(const TimelineEntry& e) const;
    // Everything a frame depends on: equal, and the terminal already shows it.
    struct Shown {
        uint64_t generation = 0;
        uint64_t tenths = 0;  // the header's clock
        size_t passed = 0;    // the timeline's dimming
        std::optional<size_t> current;  // the highlighted command (several can share a time)
        bool playing = false, at_end = false, idle = false;
        double speed = 0;
        ViewState state;
        int lines = 0, cols = 0;
        bool operator==(const Shown&) const = default;
    };

    const CursesSession& curses_;
    const Recording& recording_;
    int colors_ = 0;
    std::vector<TimelineEntry> timeline_;
    std::optional<Shown> drawn_;
};

}  // namespace execaudit::replay
