#include "replay/player.h"

#include "common/text.h"
#include "replay/clock_text.h"
#include "replay/player_keys.h"
#include "replay/player_view.h"
#include "replay/terminal_screen.h"

#include <curses.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>

namespace execaudit::replay {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

// SIGTERM and SIGHUP end the player cleanly (the loop wakes at least every 100 ms).
class StopSignals {
public:
    StopSignals() {
        g_stop = 0;
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigaction(SIGTERM, &sa, &term_);
        sigaction(SIGHUP, &sa, &hup_);
    }
    ~StopSignals() {
        sigaction(SIGTERM, &term_, nullptr);
        sigaction(SIGHUP, &hup_, nullptr);
    }

private:
    struct sigaction term_ {}, hup_ {};
};

constexpr uint64_t kSmallStep = 5'000'000;
constexpr uint64_t kBigStep = 60'000'000;
constexpr auto kMessageFor = std::chrono::seconds(3);

void pop_utf8(std::string& s) {
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
    if (!s.empty()) s.pop_back();
}

class Player {
public:
    Player(CursesSession& curses, const Recording& rec, const PlayerOptions& o)
        : rec_(rec), playback_(rec, o.playback), view_(curses, rec) {
        if (o.start_us) playback_.seek(o.start_us);
        playback_.set_playing(o.start_playing);
        if (!rec.session().tty) say("this exec had no terminal: only its commands were recorded");
        else if (rec.frames().empty()) say("no terminal output was recorded in this session");
    }

    int run() {
        StopSignals signals;
        auto last = std::chrono::steady_clock::now();
        while (!quit_ && !g_stop) {
            if (!message_.empty() && std::chrono::steady_clock::now() > message_until_) message_.clear();
            state_.message = message_;
            view_.draw(playback_, state_);
            int wait_ms = playback_.playing() ? 100 : 500;
            if (auto next = playback_.real_us_until_next_event()) wait_ms = std::clamp(static_cast<int>(*next / 1000), 1, 100);
            // idle time builds keyframes, so later seeks are fast
            if (wait_ms >= 30 && !playback_.keyframes().indexed()) {
                auto t0 = std::chrono::steady_clock::now();
                playback_.index_some(20'000);
                auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
                wait_ms = std::max(1, wait_ms - static_cast<int>(spent));
            }
            timeout(wait_ms);
            wint_t ch = 0;
            int got = get_wch(&ch);
            auto now = std::chrono::steady_clock::now();
            uint64_t before = playback_.position_us();
            playback_.advance(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - last).count()));
            last = now;
            note_gaps(before, playback_.position_us());
            if (got == ERR) continue;
            int key = static_cast<int>(ch);
            bool function_key = got == KEY_CODE_YES;  // else a character, even one equal to a KEY_* value
            if (function_key && key == KEY_RESIZE) continue;  // the next draw lays out for the new size
            if (state_.help) {
                state_.help = false;  // any key closes the help
                continue;
            }
            if (state_.prompting) prompt_key(function_key, key);
            else act(action_for_key(key, state_.search_status.empty() ? KeyMode::normal : KeyMode::matches, function_key));
        }
        return 0;
    }

private:
    void say(std::string m) {
        message_ = std::move(m);
        message_until_ = std::chrono::steady_clock::now() + kMessageFor;
    }

    void note_gaps(uint64_t from, uint64_t to) {
        if (to <= from) return;
        for (const auto& g : rec_.gaps())
            if (g.offset_us > from && g.offset_us <= to)
                say(g.recorder_gap ? describe_recorder_gap(g)
                    : g.damage.empty() ? fmt::format("data lost here: {} bytes, {} events the kernel could not record", g.lost_bytes, g.lost_events)
                                     : "damaged data here: " + terminal_safe(g.damage));
    }

    void jumped(const char* what) {
        if (auto c = playback_.current_command()) {
            const TimedCommand& command = rec_.commands()[*c];
            say(fmt::format("{} {} of {}: {}{}", what, *c + 1, rec_.commands().size(), rec_.argv_text(command),
                            command.argv_truncated ? " ..." : ""));
        }
    }

    void act(Action a) {
        switch (a) {
            case Action::quit: quit_ = true; break;
            case Action::help: state_.help = true; break;
            case Action::toggle_pause: playback_.set_playing(!playback_.playing()); break;
            case Action::faster: playback_.faster(); break;
            case Action::slower: playback_.slower(); break;
            case Action::back_small: playback_.seek_by(-static_cast<int64_t>(kSmallStep)); break;
            case Action::forward_small: playback_.seek_by(kSmallStep); break;
            case Action::back_big: playback_.seek_by(-static_cast<int64_t>(kBigStep)); break;
            case Action::forward_big: playback_.seek_by(kBigStep); break;
            case Action::next_command:
                if (playback_.next_command()) jumped("command");
                else say("no command after this point");
                break;
            case Action::previous_command:
                if (playback_.previous_command()) jumped("command");
                else say("no command before this point");
                break;
            case Action::start: playback_.seek(0); break;
            case Action::end:
                playback_.seek(playback_.duration_us());
                playback_.set_playing(false);
                break;
            case Action::search:
                playback_.set_playing(false);  // look, don't race
                state_.prompting = true;
                state_.prompt.clear();
                break;
            case Action::next_match: find(true); break;
            case Action::previous_match: find(false); break;
            case Action::leave_search:
                state_.search_status.clear();
                state_.highlight.clear();
                break;
            case Action::toggle_idle:
                playback_.set_idle_compression(!playback_.idle_compression());
                say(playback_.idle_compression() ? "idle compression on: long pauses are shortened" : "idle compression off: real time");
                break;
            case Action::toggle_timeline: state_.show_timeline = !state_.show_timeline; break;
            case Action::pan_left: state_.pan_col -= 8; break;
            case Action::pan_right: state_.pan_col += 8; break;
            case Action::pan_up: state_.pan_row -= 4; break;
            case Action::pan_down: state_.pan_row += 4; break;
            case Action::redraw:
                clearok(curscr, TRUE);
                view_.invalidate();  // repaint even though nothing changed
                break;
            case Action::none: break;
        }
    }

    void prompt_key(bool special, int key) {
        if (!special && key == 27) {
            state_.prompting = false;
        } else if (special ? key == KEY_ENTER : (key == '\n' || key == '\r')) {
            state_.prompting = false;
            if (!state_.prompt.empty()) {
                needle_ = state_.prompt;
                find(true);
            }
        } else if (special ? key == KEY_BACKSPACE : (key == 127 || key == 8)) {
            pop_utf8(state_.prompt);
        } else if (!special && state_.prompt.size() < 200) {
            append_printable_utf8(state_.prompt, static_cast<uint32_t>(key));
        }
    }

    void find(bool forward) {
        if (needle_.empty()) return;
        auto hit = playback_.search(needle_, forward);
        std::string shown = terminal_safe(needle_);
        if (!hit) {
            state_.search_status.clear();
            state_.highlight.clear();
            say(fmt::format("not found in the output: {}", shown));
            return;
        }
        state_.highlight = needle_;
        state_.search_status = fmt::format("search '{}': match {} of {}{} at {}   n next  p previous  Esc done", shown, hit->number,
                                           hit->total, hit->total >= Playback::kCountCap ? "+" : "", format_clock(hit->offset_us));
        if (hit->wrapped) say(forward ? "search wrapped to the start" : "search wrapped to the end");
    }

    const Recording& rec_;
    Playback playback_;
    PlayerView view_;
    ViewState state_;
    std::string needle_;
    std::string message_;
    std::chrono::steady_clock::time_point message_until_;
    bool quit_ = false;
};

}  // namespace

int run_player(CursesSession& curses, const Recording& recording, const PlayerOptions& options) {
    Player player(curses, recording, options);
    return player.run();
}

}  // namespace execaudit::replay
