#include "replay/cell_style.h"

#include <vterm.h>

#include <algorithm>
#include <array>

namespace execaudit::replay {
namespace {

struct Rgb {
    int r, g, b;
};

// xterm's default palette
Rgb palette(int idx) {
    static constexpr std::array<Rgb, 16> kBasic = {{{0, 0, 0}, {205, 0, 0}, {0, 205, 0}, {205, 205, 0}, {0, 0, 238}, {205, 0, 205},
                                                    {0, 205, 205}, {229, 229, 229}, {127, 127, 127}, {255, 0, 0}, {0, 255, 0},
                                                    {255, 255, 0}, {92, 92, 255}, {255, 0, 255}, {0, 255, 255}, {255, 255, 255}}};
    if (idx < 16) return kBasic[static_cast<size_t>(idx)];
    if (idx < 232) {
        int i = idx - 16;
        auto level = [](int v) { return v ? 55 + 40 * v : 0; };
        return {level(i / 36), level((i / 6) % 6), level(i % 6)};
    }
    int gray = 8 + 10 * (idx - 232);
    return {gray, gray, gray};
}

}  // namespace

int nearest_palette_color(int red, int green, int blue, int colors) {
    int limit = std::clamp(colors, 8, 256);
    int best = 0;
    long best_distance = -1;
    for (int i = 0; i < limit; ++i) {
        Rgb p = palette(i);
        long d = long(p.r - red) * (p.r - red) + long(p.g - green) * (p.g - green) + long(p.b - blue) * (p.b - blue);
        if (best_distance < 0 || d < best_distance) best = i, best_distance = d;
    }
    return best;
}

int curses_color(const VTermColor& color, int colors) {
    if (VTERM_COLOR_IS_DEFAULT_FG(&color) || VTERM_COLOR_IS_DEFAULT_BG(&color) || colors < 8) return -1;
    if (VTERM_COLOR_IS_INDEXED(&color)) {
        int idx = color.indexed.idx;
        if (idx < colors) return idx;
        if (colors < 16 && idx >= 8 && idx < 16) return idx - 8;  // bright as normal
        Rgb p = palette(idx);
        return nearest_palette_color(p.r, p.g, p.b, colors);
    }
    return nearest_palette_color(color.rgb.red, color.rgb.green, color.rgb.blue, colors);
}

}  // namespace execaudit::replay
