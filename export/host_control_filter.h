#pragma once
// A recorded terminal stream on its way to a terminal we do not control: the analyst's, through
// `asciinema play` of an asciicast export. Removes what would act on that terminal instead of
// drawing on its screen, and every query that makes it answer (the answer arrives on its input as
// if the analyst had typed it). Everything else passes byte for byte (text, colours, cursor
// movement, modes, the alternate screen). docs/export.md lists what is removed and why:
//
//   - OSC strings (clipboard OSC 52, title and icon OSC 0/1/2, hyperlinks, notifications,
//     ...) except colour settings (OSC 4, 5, 10..19, 104, 105, 110..119) that hold no `?` query;
//   - DCS (DECRQSS, XTGETTCAP, sixel, tmux passthrough), SOS, PM and APC strings, and screen's
//     and tmux's title string (ESC k), however long: the payload is dropped as it streams by;
//   - queries: DA1/DA2/DA3 (CSI c, CSI > c, CSI = c), DSR and CPR (CSI n, CSI ? n), DECREQTPARM
//     (CSI x), window operations and reports (CSI t), DECRQM (CSI $ p), XTVERSION (CSI > q),
//     XTQMODKEYS (CSI ? m), the kitty keyboard query (CSI ? u), XTSMGRAPHICS (CSI ? S),
//     DECRQCRA (CSI * y), DECRQPSR (CSI $ w), DECRQTSR (CSI $ u), DECRQUPSS (CSI & u), DECRQDE
//     (CSI " v), DECRQLP (CSI ' |), XTREPORTSGR (CSI # |), DECRQPKFM (CSI + x), DECRQKD (CSI , w),
//     DECID (ESC Z, U+009A) and ENQ (answerback);
//   - modes that make the terminal send input or change what its keys send, kept on after the
//     player exits: mouse tracking and its encodings (DECSET 9, 1000-1003, 1005, 1006, 1015,
//     1016), focus events (1004), alternate scroll (1007), bracketed paste (2004), theme reports
//     (2031), application cursor keys and keypad (DECSET 1, 66, ESC =), backarrow (67), the meta,
//     Alt and function-key modes (1034-1039, 1050-1061), win32-input (9001), mintty's escape key
//     (7727), keyboard lock and local echo (SM 2, SM 12), the kitty keyboard protocol (CSI > u,
//     CSI = u, CSI < u) and xterm's key modifiers (CSI > m, CSI > f); only those parameters of a
//     DECSET/DECRST are removed, the others pass;
//   - in the 7-bit form (ESC [, ESC ], ESC P, ...) and the C1 form (U+009B, U+009D, U+0090, ...).
//
// What draws but would stay set in the analyst's terminal after the recording ends (the alternate
// screen, a hidden cursor, autowrap off, reverse video, origin mode, a scrolling region, insert
// and newline modes, synchronized output, a cursor style, a graphics character set) passes, and finish() appends what resets what the stream left set.
//
// Streaming: a sequence may be cut anywhere, across frames and chunks; what is held is bounded
// (kMaxSequence bytes of one CSI or escape sequence, kMaxKeptString of a colour OSC). A sequence
// longer than its bound is removed to its end. C0 controls inside a removed sequence (a terminal
// executes them there) are kept. One thread: the exporter's.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace execaudit::exporting {

class HostControlFilter {
public:
    static constexpr size_t kMaxSequence = 256;
    static constexpr size_t kMaxKeptString = 512;

    /// Appends to `out` what of `text` (valid UTF-8, possibly cut anywhere) may reach a terminal;
    /// a sequence not yet complete is held and appended by a later feed.
    void feed(std::string_view text, std::string& out);
    std::string feed(std::string_view text) {
        std::string out;
        feed(text, out);
        return out;
    }
    /// The stream ended: an unfinished sequence is dropped (controls inside it are returned), then
    /// come the resets of the drawing modes the stream left set.
    std::string finish();

private:
    enum class State { ground, escape, csi, osc_command, string };
    void step(uint32_t unit, std::string_view raw, std::string& out);
    void on_ground(uint32_t unit, std::string_view raw, std::string& out);
    void on_escape(uint32_t unit, std::string_view raw, std::string& out);
    void on_csi(uint32_t unit, std::string_view raw, std::string& out);
    void on_string(uint32_t unit, std::string_view raw, std::string& out);
    void start(State state, std::string_view raw);
    void end(bool keep, std::string& out);
    void hold(std::string_view raw, size_t bound, std::string& out);
    void control_inside(std::string_view raw, std::string& out);
    /// ESC, CAN, SUB and C0 controls inside an escape sequence or CSI; false for any other unit.
    bool inside_sequence(uint32_t unit, std::string_view raw, std::string& out);
    /// A complete CSI that is not removed whole: passes, rewritten or noted in left_.
    void end_csi(char final, std::string& out);
    /// A DECSET/DECRST (or SM/RM): its parameters that act on the host removed, the others noted.
    void end_mode_change(bool set, std::string& out);
    void note_control(uint32_t unit);

    /// What the stream left set in the terminal playing it (reset by finish()).
    struct LeftSet {
        bool cursor_hidden = false, no_autowrap = false, reverse_video = false, origin = false;
        bool synchronized = false, insert = false, newline = false, cursor_style = false;
        bool scroll_region = false, charset = false, shifted = false;
        int alternate = 0;  ///< the alternate-screen mode left on (47, 1047, 1049); 0: none
    };

    State state_ = State::ground;
    std::string held_;           ///< the sequence so far, when it may be kept
    std::string controls_;       ///< C0 controls inside it, emitted if it is removed
    std::string intermediates_;  ///< of an escape sequence or CSI
    char marker_ = 0;            ///< CSI private marker (< = > ?)
    bool params_seen_ = false;   ///< CSI: a parameter byte came (a marker only counts first)
    bool malformed_ = false;     ///< CSI: a parameter after an intermediate; terminals ignore it
    bool removing_ = false;      ///< the sequence is removed whatever comes: nothing is held
    bool osc_ = false;           ///< string: an OSC (BEL ends it too)
    bool string_escape_ = false; ///< string: ESC seen, ST (ESC \) if '\' follows
    uint32_t osc_number_ = 0;    ///< OSC: its command number, osc_digits_ digits so far
    int osc_digits_ = 0;
    bool carry_c2_ = false;      ///< a 0xC2 lead byte ended the last feed
    LeftSet left_;               ///< kept across sequences; only finish() clears it
};

}  // namespace execaudit::exporting
