#pragma once
// Where the player draws what, for a terminal and a recording geometry: the header, the
// emulated screen (clipped when the terminal is smaller), the command timeline beside or below
// it, the status line. Pure arithmetic, so any size (even 1x1) gives a sane layout.

namespace execaudit::replay {

struct Rect {
    int row = 0, col = 0, rows = 0, cols = 0;
    bool empty() const { return rows <= 0 || cols <= 0; }
};

struct Layout {
    enum class Panel { none, side, bottom };
    static constexpr int kHeaderRows = 2;
    static constexpr int kMinSidePanel = 30;

    Rect header;
    Rect screen;   ///< the viewport onto the recording's screen
    Rect panel;    ///< the command timeline
    Rect status;   ///< the last line
    Panel panel_at = Panel::none;
    bool clipped = false;  ///< the viewport shows less than the recording
    bool too_small = false;  ///< not even a header fits: draw a notice only
};

Layout compute_layout(int term_rows, int term_cols, int rec_rows, int rec_cols, bool want_panel);

}  // namespace execaudit::replay
