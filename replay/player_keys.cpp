#include "replay/player_keys.h"

#include <curses.h>

namespace execaudit::replay {

namespace {

Action for_function_key(int key) {
    switch (key) {
        case KEY_F(1): return Action::help;
        case KEY_LEFT: return Action::back_small;
        case KEY_RIGHT: return Action::forward_small;
        case KEY_DOWN: return Action::back_big;
        case KEY_UP: return Action::forward_big;
        case KEY_HOME: return Action::start;
        case KEY_END: return Action::end;
        case KEY_SLEFT: return Action::pan_left;
        case KEY_SRIGHT: return Action::pan_right;
        case KEY_SR: return Action::pan_up;
        case KEY_SF: return Action::pan_down;
        default: return Action::none;
    }
}

Action for_character(int key, KeyMode mode) {
    if (mode == KeyMode::matches) {
        switch (key) {
            case 'n': return Action::next_match;
            case 'N':
            case 'p': return Action::previous_match;
            case 27: return Action::leave_search;  // Esc
            default: break;
        }
    }
    switch (key) {
        case 'q':
        case 'Q':
        case 3:  // Ctrl-C arrives as a key: the terminal is in raw mode
            return Action::quit;
        case '?':
        case 'h': return Action::help;
        case ' ': return Action::toggle_pause;
        case '+':
        case '=':
        case ']': return Action::faster;
        case '-':
        case '_':
        case '[': return Action::slower;
        case 'n': return Action::next_command;
        case 'p': return Action::previous_command;
        case 'g': return Action::start;
        case 'G': return Action::end;
        case '/': return Action::search;
        case 'i': return Action::toggle_idle;
        case 't': return Action::toggle_timeline;
        case 'H': return Action::pan_left;
        case 'L': return Action::pan_right;
        case 'K': return Action::pan_up;
        case 'J': return Action::pan_down;
        case 12: return Action::redraw;  // Ctrl-L
        default: return Action::none;
    }
}

}  // namespace

Action action_for_key(int key, KeyMode mode, bool function_key) {
    return function_key ? for_function_key(key) : for_character(key, mode);
}


std::vector<std::pair<std::string, std::string>> key_help() {
    return {
        {"space", "pause / resume"},
        {"+  -", "faster / slower (0.25x .. 16x)"},
        {"->  <-", "forward / back 5 seconds"},
        {"up  down", "forward / back 60 seconds"},
        {"n  p", "next / previous command (the timeline highlights it)"},
        {"g  G", "start / end of the session"},
        {"/", "search the output; then n / p (or N) next / previous match, Esc done"},
        {"i", "idle compression on / off (long pauses play as --idle-limit, or 2 s)"},
        {"t", "show / hide the command timeline"},
        {"H J K L", "pan a recording larger than this terminal (or shift + arrows)"},
        {"?", "this help"},
        {"q", "quit"},
    };
}

}  // namespace execaudit::replay
