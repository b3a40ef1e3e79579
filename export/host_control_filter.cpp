#include "export/host_control_filter.h"

#include "common/utf8.h"

#include <fmt/format.h>

#include <array>

namespace execaudit::exporting {
namespace {

// A unit is an ASCII byte, a C1 control (U+0080..U+009F, its code), or one byte of another
// non-ASCII character (kOther: printable, passed or dropped whole with its neighbours).
constexpr uint32_t kOther = 0x100;
constexpr uint32_t kEnq = 0x05, kBel = 0x07, kSo = 0x0e, kSi = 0x0f, kCan = 0x18, kSub = 0x1a, kEsc = 0x1b, kDel = 0x7f;
constexpr uint32_t kDcs = 0x90, kSos = 0x98, kDecid = 0x9a, kCsi = 0x9b, kSt = 0x9c, kOsc = 0x9d, kPm = 0x9e, kApc = 0x9f;

bool is_c1(uint32_t u) { return u >= 0x80 && u < 0xa0; }

// Colour settings: they change how the screen is drawn, not the terminal around it.
bool keeps_osc(uint32_t n) {
    return n == 4 || n == 5 || (n >= 10 && n <= 19) || n == 104 || n == 105 || (n >= 110 && n <= 119);
}

// A mode (DECSET/DECRST with `?`, SM/RM without) that makes the terminal send input, or changes
// what its keys send or how its window behaves, for as long as it stays set: after the player
// exits too. None of them changes what is drawn.
bool mode_is_removed(bool dec, uint32_t mode) {
    if (!dec) return mode == 2 || mode == 12;  // KAM locks the keyboard; SRM turns local echo on
    switch (mode) {
        case 1:     // DECCKM: application cursor keys
        case 9:     // X10 mouse
        case 66:    // DECNKM: application keypad
        case 67:    // DECBKM: what backarrow sends
        case 1000:  // mouse: normal, highlight, button-event and any-event tracking
        case 1001:
        case 1002:
        case 1003:
        case 1004:  // focus in/out events
        case 1005:  // mouse encodings: UTF-8, SGR, urxvt, SGR pixels
        case 1006:
        case 1007:  // alternate scroll: the wheel sends cursor keys
        case 1015:
        case 1016:
        case 1042:  // the bell marks or raises the window
        case 1043:
        case 2004:  // bracketed paste
        case 2031:  // theme change reports
        case 7727:  // mintty: application escape key
        case 9001:  // win32-input-mode: every key as a win32 record
            return true;
        default:
            return (mode >= 1034 && mode <= 1039) || (mode >= 1050 && mode <= 1061);  // meta/Alt/function keys
    }
}

// A CSI that makes the terminal answer, acts on its window or changes what its keys send
// (xterm's ctlseqs, VT510 manual, the kitty keyboard protocol).
bool csi_is_removed(char marker, std::string_view intermediates, char final) {
    if (intermediates.empty()) {
        switch (final) {
            case 'c': return true;              // DA1, DA2 (>), DA3 (=)
            case 'n': return marker != '>';     // DSR, CPR, DECXCPR; CSI > n sets key modifiers
            case 'x': return marker == 0;       // DECREQTPARM
            case 't': return true;              // window operations, reports, title stack
            case 'q': return marker == '>';     // XTVERSION
            case 'm': return marker == '?' || marker == '>';  // XTQMODKEYS; XTMODKEYS (modifyOtherKeys)
            case 'f': return marker == '>';     // XTFMTKEYS
            case 'u': return marker != 0;       // the kitty keyboard protocol: query, push, set, pop (CSI u: restore cursor)
            case 'S': return marker == '?';     // XTSMGRAPHICS
            default: return false;
        }
    }
    if (intermediates.size() != 1) return false;
    static constexpr std::array<std::string_view, 10> kQueries = {
        "$p",   // DECRQM
        "$w",   // DECRQPSR
        "$u",   // DECRQTSR
        "&u",   // DECRQUPSS
        "\"v",  // DECRQDE
        "'|",   // DECRQLP
        "#|",   // XTREPORTSGR
        "*y",   // DECRQCRA: a checksum of screen contents
        "+x",   // DECRQPKFM
        ",w",   // DECRQKD
    };
    const char pair[2] = {intermediates[0], final};
    for (auto q : kQueries)
        if (q == std::string_view(pair, 2)) return true;
    return false;
}

}  // namespace

void HostControlFilter::feed(std::string_view text, std::string& out) {
    std::string joined;
    if (carry_c2_) {
        carry_c2_ = false;
        joined.reserve(text.size() + 1);
        joined += '\xc2';
        joined += text;
        text = joined;
    }
    size_t i = 0;
    while (i < text.size()) {
        // Fast paths: plain text, and the payload of a string being removed.
        if (state_ == State::ground || (state_ == State::string && removing_ && !string_escape_)) {
            size_t j = i;
            bool ground = state_ == State::ground;
            while (j < text.size()) {
                auto c = static_cast<unsigned char>(text[j]);
                if (c == kEsc || c == 0xc2 || (ground ? (c == kEnq || c == kSo || c == kSi) : (c == kBel || c == kCan || c == kSub))) break;
                ++j;
            }
            if (ground) out.append(text.substr(i, j - i));
            i = j;
            if (i == text.size()) break;
        }
        auto b = static_cast<unsigned char>(text[i]);
        if (b == 0xc2) {
            if (i + 1 == text.size()) {
                carry_c2_ = true;
                return;
            }
            auto next = static_cast<unsigned char>(text[i + 1]);
            if (next >= 0x80 && next < 0xa0) {
                step(next, text.substr(i, 2), out);
                i += 2;
                continue;
            }
        }
        step(b < 0x80 ? b : kOther, text.substr(i, 1), out);
        ++i;
    }
}

std::string HostControlFilter::finish() {
    std::string out = std::move(controls_);
    if (carry_c2_) out += utf8::kReplacementText;  // a character cut short at the very end
    // What the stream left set, reset for the terminal that played it (and the shell after it).
    const LeftSet& l = left_;
    if (l.synchronized) out += "\x1b[?2026l";  // else the terminal may stop drawing
    if (l.alternate) out += fmt::format("\x1b[?{}l", l.alternate);
    if (l.origin) out += "\x1b[?6l";
    if (l.scroll_region) out += "\x1b" "7\x1b[r\x1b" "8";  // DECSTBM homes the cursor: saved around it
    if (l.no_autowrap) out += "\x1b[?7h";
    if (l.reverse_video) out += "\x1b[?5l";
    if (l.insert) out += "\x1b[4l";
    if (l.newline) out += "\x1b[20l";
    if (l.cursor_style) out += "\x1b[0 q";
    if (l.cursor_hidden) out += "\x1b[?25h";
    if (l.shifted) out += "\x0f";
    if (l.charset) out += "\x1b(B";
    *this = HostControlFilter{};
    return out;
}

void HostControlFilter::step(uint32_t u, std::string_view raw, std::string& out) {
    if (u == kEnq) return;  // answerback: a query wherever it appears
    switch (state_) {
        case State::ground: return on_ground(u, raw, out);
        case State::escape: return on_escape(u, raw, out);
        case State::csi: return on_csi(u, raw, out);
        case State::osc_command:
        case State::string: return on_string(u, raw, out);
    }
}

void HostControlFilter::start(State state, std::string_view raw) {
    bool carry = carry_c2_;
    LeftSet left = left_;
    *this = HostControlFilter{};
    carry_c2_ = carry;
    left_ = left;
    state_ = state;
    held_.assign(raw);
}

void HostControlFilter::end(bool keep, std::string& out) {
    out += keep && !removing_ ? held_ : controls_;
    start(State::ground, {});
}

void HostControlFilter::hold(std::string_view raw, size_t bound, std::string& out) {
    if (removing_) return;
    held_ += raw;
    if (held_.size() <= bound) return;
    // Longer than anything kept can be: removed to its end, holding nothing from now on.
    removing_ = true;
    held_.clear();
    out += controls_;
    controls_.clear();
}

void HostControlFilter::note_control(uint32_t u) {
    if (u == kSo) left_.shifted = true;  // G1 until SI
    if (u == kSi) left_.shifted = false;
}

bool HostControlFilter::inside_sequence(uint32_t u, std::string_view raw, std::string& out) {
    if (u == kEsc) {  // the sequence so far is abandoned; a new one starts
        end(false, out);
        start(State::escape, raw);
        return true;
    }
    if (u == kCan || u == kSub) {
        end(false, out);
        out += raw;
        return true;
    }
    if (u < 0x20) {
        note_control(u);
        control_inside(raw, out);
        return true;
    }
    if (u == kDel) {
        hold(raw, kMaxSequence, out);
        return true;
    }
    return false;
}

void HostControlFilter::control_inside(std::string_view raw, std::string& out) {
    // A terminal executes a C0 control met inside an escape sequence or CSI, and goes on.
    if (removing_) {
        out += raw;
        return;
    }
    controls_ += raw;
    hold(raw, kMaxSequence, out);
}

void HostControlFilter::on_ground(uint32_t u, std::string_view raw, std::string& out) {
    switch (u) {
        case kEsc: return start(State::escape, raw);
        case kCsi: return start(State::csi, raw);
        case kOsc:
            start(State::osc_command, raw);
            osc_ = true;
            return;
        case kDcs:
        case kSos:
        case kPm:
        case kApc:
            start(State::string, {});
            removing_ = true;
            return;
        case kDecid: return;
        default:
            note_control(u);
            out += raw;
    }
}

void HostControlFilter::on_escape(uint32_t u, std::string_view raw, std::string& out) {
    if (inside_sequence(u, raw, out)) return;
    if (u < 0x30) {
        intermediates_ += static_cast<char>(u);
        return hold(raw, kMaxSequence, out);
    }
    if (u < 0x7f) {
        if (intermediates_.empty() && !removing_) {
            switch (u) {
                case '[':
                    state_ = State::csi;
                    held_ += raw;
                    return;
                case ']':
                    state_ = State::osc_command;
                    osc_ = true;
                    held_ += raw;
                    return;
                case 'P':  // DCS
                case 'X':  // SOS
                case '^':  // PM
                case '_':  // APC
                case 'k':  // screen's and tmux's window title
                    out += controls_;
                    controls_.clear();
                    held_.clear();
                    state_ = State::string;
                    removing_ = true;
                    return;
                default: break;
            }
        }
        if (!removing_) held_ += raw;
        if (intermediates_.empty() && u == 'c') left_ = {};  // RIS resets everything
        if (intermediates_ == "(") left_.charset = u != 'B';  // G0 other than ASCII (DEC graphics, ...)
        return end(!(intermediates_.empty() && (u == 'Z' || u == '=')), out);  // ESC Z: DECID; ESC =: DECKPAM
    }
    // A C1 control or another character: the escape is abandoned; the unit stands on its own.
    end(false, out);
    on_ground(u, raw, out);
}

void HostControlFilter::on_csi(uint32_t u, std::string_view raw, std::string& out) {
    if (inside_sequence(u, raw, out)) return;
    if (u < 0x30) {
        if (intermediates_.size() < 2) intermediates_ += static_cast<char>(u);
        else malformed_ = true;
        return hold(raw, kMaxSequence, out);
    }
    if (u < 0x40) {
        // A parameter after an intermediate, or a private marker not first: terminals ignore it.
        if (!intermediates_.empty()) malformed_ = true;
        if (u >= 0x3c) {
            if (params_seen_) malformed_ = true;
            else marker_ = static_cast<char>(u);
        }
        params_seen_ = true;
        return hold(raw, kMaxSequence, out);
    }
    if (u < 0x7f) {
        if (removing_ || malformed_ || csi_is_removed(marker_, intermediates_, static_cast<char>(u))) return end(false, out);
        held_ += raw;
        return end_csi(static_cast<char>(u), out);
    }
    end(false, out);
    on_ground(u, raw, out);
}

namespace {

// A CSI's parameter bytes as held: after its two-byte introducer (ESC [ or U+009B) and its private
// marker, before its final byte, without the C0 controls met inside it.
std::string csi_parameters(std::string_view held) {
    std::string params;
    for (char c : held.substr(2, held.size() - 3))
        if (c >= '0' && c <= ';') params += c;
    return params;
}

// DECSCUSR parameters that leave something other than the default: not only 0s and `;`.
bool sets_something(std::string_view params) { return params.find_first_not_of("0;") != std::string_view::npos; }

}  // namespace

void HostControlFilter::end_csi(char final, std::string& out) {
    bool plain = intermediates_.empty();
    if (plain && (final == 'h' || final == 'l') && (marker_ == 0 || marker_ == '?')) return end_mode_change(final == 'h', out);
    if (marker_ == 0) {
        if (plain && final == 'r') left_.scroll_region = !csi_parameters(held_).empty();  // DECSTBM
        if (intermediates_ == " " && final == 'q') left_.cursor_style = sets_something(csi_parameters(held_));  // DECSCUSR
    }
    end(true, out);
}

void HostControlFilter::end_mode_change(bool set, std::string& out) {
    bool dec = marker_ == '?';
    std::string params = csi_parameters(held_), kept;
    bool changed = false;
    for (size_t from = 0; from <= params.size();) {
        size_t to = std::min(params.find(';', from), params.size());
        std::string_view p = std::string_view(params).substr(from, to - from);
        from = to + 1;
        // Not a mode number (a sub-parameter, or larger than any mode): no terminal needs it.
        bool number = !p.empty() && p.size() <= 5 && p.find_first_not_of("0123456789") == std::string_view::npos;
        uint32_t mode = number ? static_cast<uint32_t>(std::stoul(std::string(p))) : 0;
        if (!number || mode_is_removed(dec, mode)) {
            changed |= !p.empty() || params.empty();
            continue;
        }
        if (!kept.empty()) kept += ';';
        kept += p;
        if (dec) {
            if (mode == 25) left_.cursor_hidden = !set;
            if (mode == 7) left_.no_autowrap = !set;
            if (mode == 5) left_.reverse_video = set;
            if (mode == 6) left_.origin = set;
            if (mode == 2026) left_.synchronized = set;
            if (mode == 47 || mode == 1047 || mode == 1049) left_.alternate = set ? static_cast<int>(mode) : 0;
        } else {
            if (mode == 4) left_.insert = set;   // IRM
            if (mode == 20) left_.newline = set;  // LNM
        }
    }
    if (!changed) return end(true, out);  // byte for byte
    // The controls met inside it first (a terminal executes them where they are), then what stays.
    // Its introducer: ESC [ (the controls after the ESC are in controls_), or U+009B.
    std::string rewritten = controls_;
    std::string introducer = held_[0] == '\x1b' ? "\x1b[" : held_.substr(0, 2);
    if (!kept.empty()) rewritten += introducer + (dec ? "?" : "") + kept + (set ? "h" : "l");
    start(State::ground, {});
    out += rewritten;
}

void HostControlFilter::on_string(uint32_t u, std::string_view raw, std::string& out) {
    auto finish_string = [&](std::string_view terminator) {
        bool keep = osc_ && osc_digits_ > 0 && keeps_osc(osc_number_);
        if (keep && !removing_) held_ += terminator;
        end(keep, out);
    };
    if (string_escape_) {
        string_escape_ = false;
        if (u == '\\') return finish_string("\x1b\\");
        // The ESC ended the string unfinished (a terminal abandons it) and starts a sequence.
        removing_ = true;
        end(false, out);
        start(State::escape, "\x1b");
        return on_escape(u, raw, out);
    }
    if (u == kEsc) {
        string_escape_ = true;
        return;
    }
    if (u == kSt || (u == kBel && osc_)) return finish_string(raw);
    if (u == kCan || u == kSub) {
        removing_ = true;
        end(false, out);
        out += raw;
        return;
    }
    if (is_c1(u)) {
        removing_ = true;
        end(false, out);
        return on_ground(u, raw, out);
    }
    if (state_ == State::osc_command) {
        if (u >= '0' && u <= '9' && osc_digits_ < 6) {
            osc_number_ = osc_number_ * 10 + (u - '0');
            ++osc_digits_;
            return hold(raw, kMaxKeptString, out);
        }
        state_ = State::string;
        if (u != ';' || osc_digits_ == 0 || !keeps_osc(osc_number_)) {
            removing_ = true;
            held_.clear();
            return;
        }
        return hold(raw, kMaxKeptString, out);
    }
    if (u == '?' && !removing_) {  // a colour query: the terminal would answer it
        removing_ = true;
        held_.clear();
        return;
    }
    hold(raw, kMaxKeptString, out);
}

}  // namespace execaudit::exporting
