#include "cli/session_picker.h"

#include "cli/play_session.h"
#include "cli/session_output.h"
#include "common/text.h"
#include "common/utf8.h"
#include "common/time_format.h"
#include "replay/output_search.h"
#include "replay/player_view.h"

#include <curses.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace execaudit::cli {
namespace {

struct PickerState {
    std::string filter;
    size_t selected = 0;  // index into the filtered list
};

std::string fit(std::string s, size_t width) {
    // byte-based padding is enough here: the line was made safe, and long names are cut
    if (s.size() > width) s = s.substr(0, width - 1) + "~";
    s.resize(width, ' ');
    return s;
}

void append_key(std::string& s, wint_t key) {
    if (key < 0x20 || key == 0x7F || key > 0x10FFFF) return;
    utf8::append(s, static_cast<uint32_t>(key));
}

// Runs the list until Enter (the chosen session) or Esc / Ctrl-C (nullopt).
std::optional<size_t> pick(const std::vector<storage::SessionRecord>& sessions, const std::vector<std::string>& lines, PickerState& st) {
    replay::CursesSession curses;
    for (;;) {
        auto shown = filter_sessions(lines, st.filter);
        if (st.selected >= shown.size()) st.selected = shown.empty() ? 0 : shown.size() - 1;
        erase();
        std::string head = fmt::format(" execaudit sessions   {} of {}   type to filter  up/down move  Enter play  Esc quit", shown.size(),
                                       sessions.size());
        attr_set(A_REVERSE, 0, nullptr);
        mvhline(0, 0, ' ', COLS);
        mvaddnstr(0, 0, head.c_str(), COLS);
        attr_set(A_BOLD, 0, nullptr);
        std::string columns = " " + fit("ID", 17) + fit("START (UTC)", 20) + fit("USER", 18) + fit("NAMESPACE/POD", 28) +
                              fit("CONTAINER", 14) + fit("CMDS", 6) + "COMMAND";
        mvaddnstr(1, 0, columns.c_str(), COLS);
        attr_set(A_NORMAL, 0, nullptr);
        int list_rows = std::max(1, LINES - 3);
        size_t first = st.selected >= static_cast<size_t>(list_rows) ? st.selected - static_cast<size_t>(list_rows) + 1 : 0;
        for (int r = 0; r < list_rows && first + static_cast<size_t>(r) < shown.size(); ++r) {
            size_t i = first + static_cast<size_t>(r);
            attr_set(i == st.selected ? A_REVERSE : A_NORMAL, 0, nullptr);
            if (i == st.selected) mvhline(2 + r, 0, ' ', COLS);
            mvaddnstr(2 + r, 0, lines[shown[i]].c_str(), COLS);
        }
        attr_set(A_NORMAL, 0, nullptr);
        if (shown.empty()) mvaddnstr(3, 1, "no session matches the filter", COLS - 1);
        std::string prompt = " filter: " + st.filter + "_";
        attr_set(A_REVERSE, 0, nullptr);
        mvhline(LINES - 1, 0, ' ', COLS);
        mvaddnstr(LINES - 1, 0, prompt.c_str(), COLS);
        attr_set(A_NORMAL, 0, nullptr);
        refresh();

        timeout(-1);
        wint_t key = 0;
        int got = get_wch(&key);
        if (got == ERR) continue;
        bool special = got == KEY_CODE_YES;
        if (special && key == KEY_RESIZE) continue;
        if (special && key == KEY_UP) st.selected = st.selected ? st.selected - 1 : 0;
        else if (special && key == KEY_DOWN) st.selected = std::min(st.selected + 1, shown.empty() ? 0 : shown.size() - 1);
        else if (special && key == KEY_PPAGE) st.selected -= std::min(st.selected, static_cast<size_t>(list_rows));
        else if (special && key == KEY_NPAGE) st.selected = std::min(st.selected + static_cast<size_t>(list_rows), shown.empty() ? 0 : shown.size() - 1);
        else if (special && key == KEY_HOME) st.selected = 0;
        else if (special && key == KEY_END) st.selected = shown.empty() ? 0 : shown.size() - 1;
        else if ((special && key == KEY_ENTER) || (!special && (key == '\n' || key == '\r'))) {
            if (!shown.empty()) return shown[st.selected];
        } else if ((special && key == KEY_BACKSPACE) || (!special && (key == 127 || key == 8))) {
            utf8::pop_back(st.filter);
        } else if (!special && key == 27) {
            if (st.filter.empty()) return std::nullopt;
            st.filter.clear();  // Esc clears the filter first, then quits
        } else if (!special && key == 3) {
            return std::nullopt;
        } else if (!special && st.filter.size() < 100) {
            append_key(st.filter, key);
            st.selected = 0;
        }
    }
}

}  // namespace

std::string picker_line(const storage::SessionRecord& s) {
    return " " + fit(terminal_safe(s.id.substr(0, 16)), 17) + fit(short_time(s.start_ns), 20) + fit(user_of(s), 18) + fit(pod_of(s), 28) +
           fit(terminal_safe(s.container), 14) + fit(std::to_string(s.commands), 6) +
           terminal_safe(join_argv(lossy(s.command)));
}

std::vector<size_t> filter_sessions(const std::vector<std::string>& lines, const std::string& filter) {
    std::string needle = replay::OutputSearch::fold(filter);
    std::vector<size_t> out;
    for (size_t i = 0; i < lines.size(); ++i)
        if (needle.empty() || replay::OutputSearch::fold(lines[i]).find(needle) != std::string::npos) out.push_back(i);
    return out;
}

int pick_and_play(storage::SessionReader& store, const std::vector<storage::SessionRecord>& sessions, const replay::PlayerOptions& options) {
    std::vector<std::string> lines;
    for (const auto& s : sessions) lines.push_back(picker_line(s));
    PickerState state;
    while (auto chosen = pick(sessions, lines, state)) play_interactively(store, sessions[*chosen], options);
    return 0;
}

}  // namespace execaudit::cli
