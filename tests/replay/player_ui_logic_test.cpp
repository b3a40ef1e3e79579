// The player's pure parts: keys, layout, colours, positions as text.
#include "replay/cell_style.h"
#include "replay/clock_text.h"
#include "replay/player_keys.h"
#include "replay/player_layout.h"

#include <curses.h>
#include <gtest/gtest.h>

using namespace execaudit::replay;

namespace {

TEST(PlayerKeys, TheIssuesKeysDoWhatTheHelpSays) {
    EXPECT_EQ(action_for_key(' ', KeyMode::normal, false), Action::toggle_pause);
    EXPECT_EQ(action_for_key('+', KeyMode::normal, false), Action::faster);
    EXPECT_EQ(action_for_key('-', KeyMode::normal, false), Action::slower);
    EXPECT_EQ(action_for_key(KEY_RIGHT, KeyMode::normal, true), Action::forward_small);
    EXPECT_EQ(action_for_key(KEY_LEFT, KeyMode::normal, true), Action::back_small);
    EXPECT_EQ(action_for_key(KEY_UP, KeyMode::normal, true), Action::forward_big);
    EXPECT_EQ(action_for_key(KEY_DOWN, KeyMode::normal, true), Action::back_big);
    EXPECT_EQ(action_for_key('n', KeyMode::normal, false), Action::next_command);
    EXPECT_EQ(action_for_key('p', KeyMode::normal, false), Action::previous_command);
    EXPECT_EQ(action_for_key('g', KeyMode::normal, false), Action::start);
    EXPECT_EQ(action_for_key('G', KeyMode::normal, false), Action::end);
    EXPECT_EQ(action_for_key('/', KeyMode::normal, false), Action::search);
    EXPECT_EQ(action_for_key('i', KeyMode::normal, false), Action::toggle_idle);
    EXPECT_EQ(action_for_key('?', KeyMode::normal, false), Action::help);
    EXPECT_EQ(action_for_key('q', KeyMode::normal, false), Action::quit);
    EXPECT_EQ(action_for_key(3, KeyMode::normal, false), Action::quit);  // Ctrl-C
    // after a search, n and p move between matches until Esc; the rest keeps working
    EXPECT_EQ(action_for_key('n', KeyMode::matches, false), Action::next_match);
    EXPECT_EQ(action_for_key('p', KeyMode::matches, false), Action::previous_match);
    EXPECT_EQ(action_for_key('N', KeyMode::matches, false), Action::previous_match);
    EXPECT_EQ(action_for_key(27, KeyMode::matches, false), Action::leave_search);
    EXPECT_EQ(action_for_key(' ', KeyMode::matches, false), Action::toggle_pause);
    EXPECT_EQ(action_for_key('x', KeyMode::normal, false), Action::none);
    std::string help;
    for (const auto& [k, what] : key_help()) help += k + " " + what + "\n";
    for (const char* k : {"space", "+  -", "->  <-", "up  down", "n  p", "g  G", "/", "i", "?", "q"}) EXPECT_NE(help.find(k), std::string::npos) << k;
}

TEST(PlayerLayout, TimelineBesideWhenThereIsRoomBelowOtherwise) {
    auto side = compute_layout(40, 140, 24, 80, true);
    EXPECT_EQ(side.panel_at, Layout::Panel::side);
    EXPECT_EQ(side.screen.cols, 80);
    EXPECT_EQ(side.screen.rows, 24);
    EXPECT_EQ(side.panel.col, 81);
    EXPECT_EQ(side.panel.cols, 59);
    EXPECT_FALSE(side.clipped);
    auto below = compute_layout(50, 90, 24, 80, true);
    EXPECT_EQ(below.panel_at, Layout::Panel::bottom);
    EXPECT_EQ(below.panel.row, 2 + 24 + 1);
    EXPECT_FALSE(below.clipped);
    auto hidden = compute_layout(40, 140, 24, 80, false);
    EXPECT_EQ(hidden.panel_at, Layout::Panel::none);
}

TEST(PlayerLayout, SmallTerminalsClipAndNothingGoesNegative) {
    auto clipped = compute_layout(24, 80, 40, 120, true);
    EXPECT_TRUE(clipped.clipped);
    EXPECT_GT(clipped.screen.cols, 0);
    EXPECT_LE(clipped.screen.col + clipped.screen.cols, 80);
    for (int rows : {1, 3, 5, 8, 13, 24, 200})
        for (int cols : {1, 10, 19, 20, 45, 79, 300}) {
            auto l = compute_layout(rows, cols, 1000, 2000, true);
            if (l.too_small) continue;
            for (const Rect* r : {&l.header, &l.screen, &l.panel, &l.status}) {
                EXPECT_GE(r->rows, 0);
                EXPECT_GE(r->cols, 0);
                EXPECT_LE(r->row + r->rows, rows) << rows << "x" << cols;
                EXPECT_LE(r->col + r->cols, cols) << rows << "x" << cols;
            }
        }
    EXPECT_TRUE(compute_layout(4, 80, 24, 80, true).too_small);
}

TEST(CellStyle, ColoursMapToWhatTheTerminalHas) {
    VTermColor c;
    vterm_color_indexed(&c, 9);
    EXPECT_EQ(curses_color(c, 256), 9);
    EXPECT_EQ(curses_color(c, 8), 1);  // bright red as red
    vterm_color_indexed(&c, 196);  // xterm's pure red
    EXPECT_EQ(curses_color(c, 256), 196);
    EXPECT_EQ(curses_color(c, 16), 9);
    vterm_color_rgb(&c, 0, 0, 0xee);
    EXPECT_EQ(curses_color(c, 8), 4);
    EXPECT_EQ(curses_color(c, 0), -1);  // no colours: attributes only
    c.type = static_cast<VTermColorType>(VTERM_COLOR_INDEXED | VTERM_COLOR_DEFAULT_FG);
    EXPECT_EQ(curses_color(c, 256), -1);
}

TEST(ClockText, FormatsAndParsesPositions) {
    EXPECT_EQ(format_clock(0), "00:00.0");
    EXPECT_EQ(format_clock(83'456'789), "01:23.4");
    EXPECT_EQ(format_clock(3'723'900'000), "1:02:03.9");
    EXPECT_EQ(parse_offset("90"), 90'000'000u);
    EXPECT_EQ(parse_offset("90.25"), 90'250'000u);
    EXPECT_EQ(parse_offset("1:30"), 90'000'000u);
    EXPECT_EQ(parse_offset("1:02:03.5"), 3'723'500'000u);
    EXPECT_EQ(parse_offset("2m"), 120'000'000u);
    EXPECT_EQ(parse_offset("1h30m"), 5'400'000'000u);
    for (const char* bad : {"", "x", "1:", "1:60", "-5", "1:2:3:4", "1.2.3", "\x1b[2J"}) {
        auto r = parse_offset(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_EQ(r.error().find('\x1b'), std::string::npos);
        }
    }
}

// get_wch returns typed characters and function keys in the same range: U+0104 'Ą' is KEY_LEFT.
TEST(PlayerKeys, TypedCharactersAreNeverFunctionKeys) {
    EXPECT_EQ(action_for_key(KEY_LEFT, KeyMode::normal, true), Action::back_small);
    EXPECT_EQ(action_for_key(KEY_LEFT, KeyMode::normal, false), Action::none);  // 'Ą'
    EXPECT_EQ(action_for_key(KEY_RIGHT, KeyMode::normal, false), Action::none);
    EXPECT_EQ(action_for_key(KEY_HOME, KeyMode::normal, false), Action::none);
    EXPECT_EQ(action_for_key(KEY_F(1), KeyMode::matches, false), Action::none);
    EXPECT_EQ(action_for_key(KEY_RESIZE, KeyMode::normal, false), Action::none);
    // and characters stay characters whatever the mode
    EXPECT_EQ(action_for_key('q', KeyMode::normal, false), Action::quit);
    EXPECT_EQ(action_for_key('n', KeyMode::matches, false), Action::next_match);
    EXPECT_EQ(action_for_key(27, KeyMode::matches, false), Action::leave_search);
    EXPECT_EQ(action_for_key(KEY_UP, KeyMode::matches, true), Action::forward_big);
}

}  // namespace
