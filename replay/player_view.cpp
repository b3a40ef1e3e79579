#include "replay/player_view.h"

#include "common/errors.h"
#include "common/text.h"
#include "common/utf8.h"
#include "common/time_format.h"
#include "replay/cell_style.h"
#include "replay/clock_text.h"
#include "replay/player_keys.h"

#include <curses.h>
#include <fcntl.h>
#include <langinfo.h>
#include <unistd.h>
#include <vterm.h>

#include <fmt/format.h>

#include <algorithm>
#include <clocale>
#include <cstring>
#include <cwchar>
#include <cwctype>
#include <string_view>
#include <vector>

namespace execaudit::replay {
namespace {

// UTF-8 (the callers sanitized it; anything invalid is U+FFFD) as wide characters; without a UTF-8 locale, only ASCII.
std::wstring to_wide(std::string_view s, bool utf8) {
    std::wstring out;
    while (!s.empty()) {
        utf8::Step step = utf8::decode(s);
        s.remove_prefix(step.length);
        out += (!utf8 && step.code_point > 0x7E) ? L'?' : static_cast<wchar_t>(step.code_point);
    }
    return out;
}

// A code point as it may be drawn in one or two columns; '?' for anything a terminal could act on
// or that would not take the width the emulator gave it.
wchar_t drawable(uint32_t cp, int width, bool utf8) {
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return L'?';
    if (!utf8 && cp > 0x7E) return L'?';
    auto wc = static_cast<wchar_t>(cp);
    int w = wcwidth(wc);
    if (w < 1 || w > width) return L'?';
    return wc;
}

// Text clipped to `width` columns at (row, col).
void put(int row, int col, int width, std::string_view text, bool utf8, attr_t attr = A_NORMAL, int pair = 0) {
    if (width <= 0) return;
    std::wstring w = to_wide(text, utf8);
    std::wstring fitted;
    int used = 0;
    for (wchar_t c : w) {
        int cw = wcwidth(c);
        if (cw < 0) c = L'?', cw = 1;
        if (used + cw > width) break;
        fitted += c;
        used += cw;
    }
    attr_set(attr, static_cast<short>(pair), &pair);
    mvaddnwstr(row, col, fitted.c_str(), static_cast<int>(fitted.size()));
    attr_set(A_NORMAL, 0, nullptr);
}

void fill(int row, int col, int width, attr_t attr) {
    if (width <= 0) return;
    attr_set(attr, 0, nullptr);
    mvhline(row, col, ' ', width);
    attr_set(A_NORMAL, 0, nullptr);
}

std::string retval_text(const std::optional<int32_t>& rv) {
    if (!rv) return "?";
    if (*rv == 0) return "ok";
    const char* name = *rv < 0 ? strerrorname_np(-*rv) : nullptr;
    return name ? name : std::to_string(*rv);
}

std::string speed_text(double speed) { return fmt::format("{}x", speed); }

std::string who(const storage::SessionRecord& s) {
    if (s.user && !s.user->empty()) return terminal_safe(*s.user);
    return terminal_safe(s.attribution.empty() ? "unattributed" : s.attribution);
}

}  // namespace

CursesSession::CursesSession() {
    std::setlocale(LC_ALL, "");
    utf8_ = std::strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) throw UsageError("the player needs a terminal");
    SCREEN* screen = newterm(nullptr, stdout, stdin);
    if (!screen) {
        const char* term = std::getenv("TERM");
        throw UsageError(fmt::format("the terminal type '{}' is unknown here; set TERM (e.g. xterm-256color) or use --cat",
                                     terminal_safe(term ? term : "")));
    }
    screen_ = screen;
    raw();  // Ctrl-C and Ctrl-Z are keys, so the terminal is always restored
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    if (has_colors()) {
        start_color();
        use_default_colors();
    }
    // Nothing may write to the terminal behind ncurses' back.
    saved_stderr_ = dup(STDERR_FILENO);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDERR_FILENO);
        close(null);
    }
}

CursesSession::~CursesSession() {
    endwin();
    delscreen(static_cast<SCREEN*>(screen_));
    if (saved_stderr_ >= 0) {
        dup2(saved_stderr_, STDERR_FILENO);
        close(saved_stderr_);
    }
}

PlayerView::PlayerView(const CursesSession& curses, const Recording& recording)
    : curses_(curses), recording_(recording), colors_(has_colors() ? COLORS : 0) {
    const auto& commands = recording.commands();
    const auto& gaps = recording.gaps();
    size_t gi = 0;
    auto add_gaps_until = [&](uint64_t t) {
        for (; gi < gaps.size() && gaps[gi].offset_us <= t; ++gi) {
            timeline_.push_back({gaps[gi].offset_us, static_cast<uint32_t>(gi), false, true});
        }
    };
    for (size_t i = 0; i < commands.size(); ++i) {
        const auto& c = commands[i];
        add_gaps_until(c.offset_us);
        bool failed = !c.retval || *c.retval != 0;
        timeline_.push_back({c.offset_us, static_cast<uint32_t>(i), true, failed});
    }
    add_gaps_until(UINT64_MAX);
}

std::string PlayerView::entry_text(const TimelineEntry& e) const {
    if (e.is_command) {
        const TimedCommand& c = recording_.commands()[e.index];
        return fmt::format("{}  {:<7}  {}{}", format_clock(c.offset_us), retval_text(c.retval), recording_.argv_text(c),
                           c.argv_truncated ? " ..." : "");
    }
    const Gap& g = recording_.gaps()[e.index];
    std::string what = g.recorder_gap ? fmt::format("UNFOLLOWED until {} (no recorder ran)", format_clock(g.recorder_gap_until_us))
                             : g.damage.empty() ? fmt::format("LOST     {} bytes, {} events{}", g.lost_bytes, g.lost_events,
                                                              g.cause == storage::GapCause::store        ? " (disk)"
                                                              : g.cause == storage::GapCause::output_cap ? " (cap)"
                                                                                                         : "")
                                                : "DAMAGED  " + terminal_safe(g.damage);
    return format_clock(g.offset_us) + "  " + what;
}

size_t PlayerView::entries_passed(uint64_t position_us) const {
    auto it = std::upper_bound(timeline_.begin(), timeline_.end(), position_us,
                               [](uint64_t t, const TimelineEntry& e) { return t < e.at; });
    return static_cast<size_t>(it - timeline_.begin());
}

int PlayerView::pair(int fg, int bg) {
    if (colors_ < 8 || (fg < 0 && bg < 0)) return 0;
    int p = alloc_pair(fg, bg);
    return p < 0 ? 0 : p;
}

Layout PlayerView::layout(const Playback& p, const ViewState& s) const {
    return compute_layout(LINES, COLS, p.screen().rows(), p.screen().cols(), s.show_timeline);
}

void PlayerView::draw(const Playback& p, ViewState& s) {
    Layout l = layout(p, s);
    if (!l.too_small) {
        s.pan_row = std::clamp(s.pan_row, 0, std::max(0, p.screen().rows() - l.screen.rows));
        s.pan_col = std::clamp(s.pan_col, 0, std::max(0, p.screen().cols() - l.screen.cols));
    }
    Shown now{p.generation(), p.position_us() / 100'000, entries_passed(p.position_us()), p.current_command(),
              p.playing(), p.at_end(),
              p.idle_compression(), p.speed(), s, LINES, COLS};
    if (drawn_ == now) return;
    drawn_ = std::move(now);
    erase();
    if (l.too_small) {
        put(0, 0, COLS, "terminal too small", curses_.utf8());
        refresh();
        return;
    }
    draw_header(p, l);
    draw_screen(p, l, s);
    draw_timeline(p, l);
    draw_status(p, l, s);
    if (s.help) draw_help();
    refresh();
}

void PlayerView::draw_header(const Playback& p, const Layout& l) {
    const auto& s = recording_.session();
    bool utf8 = curses_.utf8();
    std::string pod = s.pod.empty() ? (s.pod_uid.empty() ? "?" : "pod " + s.pod_uid) : s.namespace_name + "/" + s.pod;
    std::string start = format_rfc3339_us(s.start_ns);
    std::string line0 = fmt::format(" execaudit play  {}  who: {}  pod: {}  container: {}  node: {}  start: {} {} UTC", s.id.substr(0, 8),
                                    who(s), terminal_safe(pod), terminal_safe(s.container.empty() ? "?" : s.container),
                                    terminal_safe(s.node.empty() ? "?" : s.node), start.substr(0, 10), start.substr(11, 8));
    fill(0, 0, l.header.cols, A_REVERSE);
    put(0, 0, l.header.cols, line0, utf8, A_REVERSE);

    std::string state = p.playing() ? "playing" : p.at_end() ? "ended" : "paused";
    std::string idle = p.idle_compression() ? fmt::format("idle max {}s", p.idle_limit_us() / 1e6) : "idle off";
    std::string line1 = fmt::format(" {:<7}  {} / {}  speed {}  {}", state, format_clock(p.position_us()),
                                    format_clock(p.duration_us()), speed_text(p.speed()), idle);
    if (!recording_.gaps().empty()) line1 += fmt::format("  gaps: {}", recording_.gaps().size());
    if (l.clipped)
        line1 += fmt::format("  [clipped: {}x{} of {}x{}, H J K L pan]", l.screen.cols, l.screen.rows, p.screen().cols(), p.screen().rows());
    put(1, 0, l.header.cols, line1, utf8, A_BOLD);
    // a progress bar with the places where data was lost
    int bar_col = static_cast<int>(to_wide(line1, utf8).size()) + 2;
    int bar = l.header.cols - bar_col - 2;  // between the brackets, the ']' in the last column
    if (bar >= 10 && p.duration_us() > 0) {
        std::string b(static_cast<size_t>(bar), '-');
        auto at = [&](uint64_t us) { return std::min<size_t>(b.size() - 1, static_cast<size_t>(static_cast<double>(us) / p.duration_us() * bar)); };
        for (size_t i = 0; i < at(p.position_us()); ++i) b[i] = '=';
        b[at(p.position_us())] = '>';
        for (const auto& g : recording_.gaps()) b[at(g.offset_us)] = '!';
        put(1, bar_col, bar + 2, "[" + b + "]", utf8);
    }
}

void PlayerView::draw_screen(const Playback& p, const Layout& l, const ViewState& s) {
    const TerminalScreen& t = p.screen();
    bool utf8 = curses_.utf8();
    int cursor_row = t.cursor_visible() ? t.cursor_row() : -1;
    int cursor_col = t.cursor_col();
    std::string needle = OutputSearch::fold(s.highlight);
    for (int r = 0; r < l.screen.rows; ++r) {
        int rr = r + s.pan_row;
        // cells of the search match on this row (ASCII folding, like the search itself)
        std::vector<bool> marked(static_cast<size_t>(t.cols()), false);
        if (!needle.empty()) {
            std::string row;
            std::vector<int> col_of;
            for (int c = 0; c < t.cols(); ++c) {
                VTermScreenCell cell{};
                vterm_screen_get_cell(t.screen(), VTermPos{rr, c}, &cell);
                std::string ch;
                if (cell.chars[0] == 0) ch = " ";
                else append_printable_utf8(ch, cell.chars[0]);
                for (char b : OutputSearch::fold(ch)) row += b, col_of.push_back(c);
            }
            for (size_t at = row.find(needle); at != std::string::npos; at = row.find(needle, at + 1))
                for (size_t k = at; k < at + needle.size(); ++k) marked[static_cast<size_t>(col_of[k])] = true;
        }
        for (int c = 0; c < l.screen.cols; ++c) {
            int cc = c + s.pan_col;
            VTermScreenCell cell{};
            vterm_screen_get_cell(t.screen(), VTermPos{rr, cc}, &cell);
            if (cell.chars[0] == static_cast<uint32_t>(-1)) continue;  // the right half of a wide character
            int width = std::clamp<int>(cell.width, 1, 2);
            wchar_t text[VTERM_MAX_CHARS_PER_CELL + 1] = {};
            if (width == 2 && c + 1 >= l.screen.cols) width = 1, text[0] = L'>';  // cut by the viewport's edge
            else if (cell.chars[0] == 0) text[0] = L' ';
            else {
                text[0] = drawable(cell.chars[0], width, utf8);
                size_t n = 1;
                for (int i = 1; i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i] && utf8; ++i) {
                    auto wc = static_cast<wchar_t>(cell.chars[i]);
                    if (cell.chars[i] <= 0x10FFFF && wcwidth(wc) == 0 && iswprint(static_cast<wint_t>(wc)) && text[0] != L'?') text[n++] = wc;
                }
            }
            attr_t attr = A_NORMAL;
            if (cell.attrs.bold) attr |= A_BOLD;
            if (cell.attrs.underline) attr |= A_UNDERLINE;
            if (cell.attrs.italic) attr |= A_ITALIC;
            if (cell.attrs.reverse) attr |= A_REVERSE;
            if (rr == cursor_row && cc == cursor_col) attr ^= A_REVERSE;
            int pr = pair(curses_color(cell.fg, colors_), curses_color(cell.bg, colors_));
            if (marked[static_cast<size_t>(cc)]) {
                attr |= A_BOLD;
                pr = colors_ >= 8 ? pair(COLOR_BLACK, COLOR_YELLOW) : 0;
                if (!pr) attr |= A_STANDOUT;
            }
            cchar_t cch;
            setcchar(&cch, text, attr, static_cast<short>(pr), &pr);
            mvadd_wch(l.screen.row + r, l.screen.col + c, &cch);
        }
    }
    // the recording's edges: a line where it ends, arrows where the viewport cuts it
    if (l.panel_at == Layout::Panel::side || l.screen.cols < l.header.cols) {
        int col = l.screen.col + l.screen.cols;
        bool more_right = s.pan_col + l.screen.cols < t.cols();
        for (int r = 0; r < l.screen.rows; ++r) mvaddch(l.screen.row + r, col, more_right ? '>' : ACS_VLINE);
    }
    int bottom = l.screen.row + l.screen.rows;
    if (bottom < l.status.row) {
        bool more_below = s.pan_row + l.screen.rows < t.rows();
        mvhline(bottom, 0, more_below ? 'v' : ACS_HLINE, l.panel_at == Layout::Panel::side ? l.screen.cols : l.header.cols);
    }
    if (s.pan_col > 0)
        for (int r = 0; r < l.screen.rows; r += 4) mvaddch(l.screen.row + r, l.screen.col, '<' | A_BOLD);
}

void PlayerView::draw_timeline(const Playback& p, const Layout& l) {
    if (l.panel_at == Layout::Panel::none || l.panel.empty()) return;
    bool utf8 = curses_.utf8();
    const auto& commands = recording_.commands();
    auto current = p.current_command();
    int red = pair(COLOR_RED, -1);
    int row = l.panel.row, rows = l.panel.rows, col = l.panel.col, cols = l.panel.cols;
    std::string title = commands.empty() ? " Commands: none recorded" : fmt::format(" Commands ({})   n next  p previous", commands.size());
    fill(row, col, cols, A_BOLD | A_UNDERLINE);
    put(row, col, cols, title, utf8, A_BOLD | A_UNDERLINE);
    int list_rows = rows - 1;
    if (list_rows <= 0) return;
    // keep the current command in view, a third of the way down
    size_t passed = entries_passed(p.position_us());
    size_t focus = passed ? passed - 1 : 0;
    int first = std::max(0, static_cast<int>(focus) - list_rows / 3);
    first = std::min(first, std::max(0, static_cast<int>(timeline_.size()) - list_rows));
    for (int i = 0; i < list_rows && first + i < static_cast<int>(timeline_.size()); ++i) {
        const TimelineEntry& e = timeline_[static_cast<size_t>(first + i)];
        bool is_current = e.is_command && current && e.index == *current;
        attr_t attr = e.alert ? A_BOLD : A_NORMAL;
        if (is_current) {
            attr |= A_REVERSE;
            fill(row + 1 + i, col, cols, A_REVERSE);
        } else if (e.at > p.position_us()) {
            attr |= A_DIM;  // not run yet at this point of the replay
        }
        put(row + 1 + i, col, cols, (is_current ? ">" : " ") + entry_text(e), utf8, attr, is_current || !e.alert ? 0 : red);
    }
}

void PlayerView::draw_status(const Playback& p, const Layout& l, const ViewState& s) {
    bool utf8 = curses_.utf8();
    std::string text;
    attr_t attr = A_REVERSE;
    if (s.prompting) {
        text = "/" + s.prompt + "_      (Enter search, Esc cancel)";
    } else if (!s.message.empty()) {
        text = " " + s.message;
    } else if (!s.search_status.empty()) {
        text = " " + s.search_status;
    } else if (p.at_end()) {
        text = " end of session   g start  p previous command  / search  ? help  q quit";
    } else {
        text = " space pause  <- -> 5s  up/down 60s  n/p command  g/G start/end  / search  +/- speed  ? help  q quit";
    }
    fill(l.status.row, 0, l.status.cols, attr);
    put(l.status.row, 0, l.status.cols, text, utf8, attr);
}

void PlayerView::draw_help() {
    auto keys = key_help();
    int width = std::min(COLS - 2, 78);
    int height = std::min(LINES - 2, static_cast<int>(keys.size()) + 4);
    int top = std::max(0, (LINES - height) / 2), left = std::max(0, (COLS - width) / 2);
    for (int r = 0; r < height; ++r) fill(top + r, left, width, A_NORMAL);
    attr_set(A_BOLD, 0, nullptr);
    mvaddch(top, left, ACS_ULCORNER);
    mvhline(top, left + 1, ACS_HLINE, width - 2);
    mvaddch(top, left + width - 1, ACS_URCORNER);
    mvaddch(top + height - 1, left, ACS_LLCORNER);
    mvhline(top + height - 1, left + 1, ACS_HLINE, width - 2);
    mvaddch(top + height - 1, left + width - 1, ACS_LRCORNER);
    mvvline(top + 1, left, ACS_VLINE, height - 2);
    mvvline(top + 1, left + width - 1, ACS_VLINE, height - 2);
    attr_set(A_NORMAL, 0, nullptr);
    put(top, left + 2, width - 4, " Keys (any key closes this) ", curses_.utf8(), A_BOLD);
    for (size_t i = 0; i < keys.size() && static_cast<int>(i) + 2 < height - 1; ++i)
        put(top + 2 + static_cast<int>(i), left + 2, width - 4, fmt::format("{:<10} {}", keys[i].first, keys[i].second), curses_.utf8());
}

}  // namespace execaudit::replay
