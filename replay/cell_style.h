#pragma once
// libvterm colours as ncurses colour numbers, for terminals with 8, 16, 256 (or more) colours:
// exact when the terminal has the colour, the nearest one it has otherwise.

#include <vterm.h>

namespace execaudit::replay {

/// -1: the terminal's default colour. `colors`: ncurses' COLORS.
int curses_color(const VTermColor& color, int colors);

/// The nearest of the first `colors` xterm palette entries (16 or 256) to an RGB colour.
int nearest_palette_color(int red, int green, int blue, int colors);

}  // namespace execaudit::replay
