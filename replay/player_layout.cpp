#include "replay/player_layout.h"

#include <algorithm>

namespace execaudit::replay {

Layout compute_layout(int term_rows, int term_cols, int rec_rows, int rec_cols, bool want_panel) {
    Layout l;
    if (term_rows < 5 || term_cols < 20) {
        l.too_small = true;
        return l;
    }
    l.header = {0, 0, Layout::kHeaderRows, term_cols};
    l.status = {term_rows - 1, 0, 1, term_cols};
    int top = Layout::kHeaderRows;
    int rows = term_rows - Layout::kHeaderRows - 1;  // between header and status
    int cols = term_cols;
    l.screen = {top, 0, rows, cols};
    if (want_panel) {
        if (cols - rec_cols - 1 >= Layout::kMinSidePanel) {
            // beside the screen, with everything the recording leaves
            l.panel_at = Layout::Panel::side;
            l.screen.cols = rec_cols;
            l.panel = {top, rec_cols + 1, rows, cols - rec_cols - 1};
        } else if (rows - rec_rows - 1 >= 4) {
            l.panel_at = Layout::Panel::bottom;
            l.screen.rows = rec_rows;
            l.panel = {top + rec_rows + 1, 0, rows - rec_rows - 1, cols};
        } else if (cols >= 2 * Layout::kMinSidePanel + 10) {
            // the recording does not fit either way: clip it, keep a narrow timeline
            l.panel_at = Layout::Panel::side;
            l.screen.cols = cols - Layout::kMinSidePanel - 1;
            l.panel = {top, l.screen.cols + 1, rows, Layout::kMinSidePanel};
        } else if (rows >= 12) {
            l.panel_at = Layout::Panel::bottom;
            l.screen.rows = rows - 6;
            l.panel = {top + l.screen.rows + 1, 0, 5, cols};
        }
    }
    l.screen.rows = std::min(l.screen.rows, rec_rows);
    l.screen.cols = std::min(l.screen.cols, rec_cols);
    l.clipped = l.screen.rows < rec_rows || l.screen.cols < rec_cols;
    return l;
}

}  // namespace execaudit::replay
