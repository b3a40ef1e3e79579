#pragma once
// What each key does in the player. One table: the `?` overlay and `execaudit play --help` both
// print it, so the help can never disagree with the keys.

#include <string>
#include <utility>
#include <vector>

namespace execaudit::replay {

enum class Action {
    none, quit, help, toggle_pause, faster, slower,
    back_small, forward_small, back_big, forward_big,   // ±5 s, ±60 s
    next_command, previous_command, start, end,
    search, next_match, previous_match, leave_search,
    toggle_idle, toggle_timeline,
    pan_left, pan_right, pan_up, pan_down, redraw,
};

/// normal: playing or paused; matches: after a search, n/p (and N) move between matches.
enum class KeyMode { normal, matches };

/// `key` is wget_wch's value; `function_key` is whether it returned KEY_CODE_YES. Only then is
/// `key` a KEY_* code: a typed character can have the same value (U+0104 is KEY_LEFT).
Action action_for_key(int key, KeyMode mode, bool function_key);

/// (keys, what they do), in the order the help shows them.
std::vector<std::pair<std::string, std::string>> key_help();

}  // namespace execaudit::replay
