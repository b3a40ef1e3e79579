#pragma once
// Everything a screen shows, cell by cell (text, width, attributes, colours) and the cursor, as
// one string: two screens look the same exactly when their dumps are equal.

#include "replay/terminal_screen.h"

#include <vterm.h>

#include <string>

namespace execaudit::testing {

inline std::string dump_color(const VTermColor& c) {
    if (VTERM_COLOR_IS_DEFAULT_FG(&c)) return "dfg";
    if (VTERM_COLOR_IS_DEFAULT_BG(&c)) return "dbg";
    if (VTERM_COLOR_IS_INDEXED(&c)) return "i" + std::to_string(c.indexed.idx);
    return "rgb" + std::to_string(c.rgb.red) + "," + std::to_string(c.rgb.green) + "," + std::to_string(c.rgb.blue);
}

inline std::string dump_screen(const replay::TerminalScreen& s) {
    std::string out = std::to_string(s.rows()) + "x" + std::to_string(s.cols()) + " cursor " + std::to_string(s.cursor_row()) +
                      "," + std::to_string(s.cursor_col()) + (s.cursor_visible() ? " visible\n" : " hidden\n");
    for (int r = 0; r < s.rows(); ++r) {
        for (int c = 0; c < s.cols(); ++c) {
            VTermScreenCell cell{};
            vterm_screen_get_cell(s.screen(), VTermPos{r, c}, &cell);
            for (int i = 0; i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i]; ++i) out += std::to_string(cell.chars[i]) + "+";
            out += "w" + std::to_string(cell.width);
            const auto& a = cell.attrs;
            out += "a" + std::to_string(a.bold) + std::to_string(a.underline) + std::to_string(a.italic) + std::to_string(a.blink) +
                   std::to_string(a.reverse) + std::to_string(a.strike) + std::to_string(a.font);
            out += dump_color(cell.fg) + "/" + dump_color(cell.bg) + " ";
        }
        out += '\n';
    }
    return out;
}

}  // namespace execaudit::testing
