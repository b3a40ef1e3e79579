#include "replay/terminal_screen.h"

#include "common/utf8.h"
#include "replay/sequence_guard.h"
#include "replay/vterm_arena.h"

#include <vterm.h>

#include <algorithm>
#include <optional>

namespace execaudit::replay {
namespace {

void discard_output(const char*, size_t len, void* counted) { *static_cast<size_t*>(counted) += len; }

int clamp(int v, int lo, int hi) { return std::max(lo, std::min(v, hi)); }

// C1 controls written as UTF-8 (U+0080..U+009F, `\xc2\x80`..`\xc2\x9f`) become U+FFFD:
// libvterm 0.1.4 prints them as text of width -1, which moves the cursor left off the screen,
// and the next erase writes before its buffer (fuzzing: U+009D, then `CSI J`). In valid UTF-8,
// 0xC2 is always a lead byte.
void replace_c1_controls(std::string& text) {
    size_t at = text.find('\xc2');
    if (at == std::string::npos) return;
    std::string out(text, 0, at);
    out.reserve(text.size() + 16);
    for (size_t i = at; i < text.size(); ++i) {
        auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
        if (text[i] == '\xc2' && next >= 0x80 && next <= 0x9F) {
            out += "\xef\xbf\xbd";
            ++i;
        } else {
            out += text[i];
        }
    }
    text = std::move(out);
}

// The only property the player draws is the cursor's visibility; titles and the rest stay here.
int on_termprop(VTermProp prop, VTermValue* value, void* cursor_visible) {
    if (prop == VTERM_PROP_CURSORVISIBLE) *static_cast<bool*>(cursor_visible) = value->boolean != 0;
    return 1;
}

// Static: libvterm keeps a pointer to it inside the arena, so it must outlive every snapshot.
const VTermScreenCallbacks kScreenCallbacks = {
    .damage = nullptr,
    .moverect = nullptr,
    .movecursor = nullptr,
    .settermprop = &on_termprop,
    .bell = nullptr,
    .resize = nullptr,
    .sb_pushline = nullptr,
    .sb_popline = nullptr,
};

}  // namespace

void TerminalScreen::VTermDeleter::operator()(VTerm* vt) const { vterm_free(vt); }

TerminalScreen::TerminalScreen(int rows, int cols)
    : arena_(std::make_unique<VtermArena>()), rows_(clamp(rows, 1, 1000)), cols_(clamp(cols, kMinCols, 2000)) {
    vt_.reset(vterm_new_with_allocator(rows_, cols_, static_cast<VTermAllocatorFunctions*>(VtermArena::allocator_functions()),
                                       arena_.get()));
    vterm_set_utf8(vt_.get(), 1);
    vterm_output_set_callback(vt_.get(), discard_output, &answer_bytes_);
    screen_ = vterm_obtain_screen(vt_.get());
    vterm_screen_set_callbacks(screen_, &kScreenCallbacks, &cursor_visible_);
    vterm_screen_enable_altscreen(screen_, 1);
    vterm_screen_reset(screen_, 1);
}

TerminalScreen::~TerminalScreen() = default;

int TerminalScreen::cursor_row() const {
    VTermPos pos;
    vterm_state_get_cursorpos(vterm_obtain_state(vt_.get()), &pos);
    return pos.row;
}

int TerminalScreen::cursor_col() const {
    VTermPos pos;
    vterm_state_get_cursorpos(vterm_obtain_state(vt_.get()), &pos);
    return pos.col;
}

TerminalScreen::Snapshot TerminalScreen::snapshot() const {
    Snapshot s;
    snapshot_into(s);
    return s;
}

void TerminalScreen::snapshot_into(Snapshot& s) const {
    arena_->save(s.image);
    s.rows = rows_;
    s.cols = cols_;
    s.cursor_visible = cursor_visible_;
    s.scan = static_cast<int>(scan_);
    s.pending = pending_;
    s.last_glyph = last_glyph_ + '\0' + glyph_;
    s.text_pending = text_.pending();
    s.owner = this;
}

bool TerminalScreen::restore(const Snapshot& s) {
    if (s.owner != this || !arena_->restore(s.image)) return false;
    rows_ = s.rows;
    cols_ = s.cols;
    cursor_visible_ = s.cursor_visible;
    scan_ = static_cast<Scan>(s.scan);
    pending_ = s.pending;
    size_t cut = s.last_glyph.find('\0');
    last_glyph_ = s.last_glyph.substr(0, cut);
    glyph_ = cut == std::string::npos ? std::string() : s.last_glyph.substr(cut + 1);
    text_.restore(s.text_pending);
    return true;
}

// Follows libvterm's parser where it matters: CAN and SUB abandon a sequence; C0 controls, DEL
// and bytes from 0x80 are not finals, so a sequence goes on past them; ESC inside a string ends
// the string and starts a sequence unless it is ST.
bool TerminalScreen::scan(unsigned char c) {
    if (c == 0x18 || c == 0x1A) {
        scan_ = Scan::ground;
        return false;
    }
    switch (scan_) {
        case Scan::ground:
            if (c == 0x1B) scan_ = Scan::escape;
            return false;
        case Scan::escape:
            if (c == 0x1B) return false;
            if (c == '[') scan_ = Scan::csi;
            else if (c == 'P') scan_ = Scan::dcs;
            else if (c == ']' || c == 'X' || c == '^' || c == '_') scan_ = Scan::string;
            else if (c >= 0x20 && c <= 0x2F) scan_ = Scan::intermediate;
            else if (c >= 0x30 && c <= 0x7E) return scan_ = Scan::ground, true;
            return false;
        case Scan::intermediate:
            if (c == 0x1B) scan_ = Scan::escape;
            else if (c >= 0x30 && c <= 0x7E) return scan_ = Scan::ground, true;
            return false;
        case Scan::csi:
            if (c == 0x1B) scan_ = Scan::escape;
            else if (c >= 0x40 && c <= 0x7E) return scan_ = Scan::ground, true;
            return false;
        case Scan::dcs:
        case Scan::string:
            if (c == 0x07) return scan_ = Scan::ground, true;
            if (c == 0x1B) scan_ = Scan::string_escape;
            return false;
        case Scan::string_escape:
            if (c == '\\') return scan_ = Scan::ground, true;
            scan_ = Scan::escape;
            return scan(c);
    }
    return false;
}

void TerminalScreen::feed(std::string_view input) {
    // libvterm 0.1.4 is not safe on hostile input, and every recorded byte is hostile:
    //  - it can leave the cursor off the screen (a cursor saved before the screen shrank and
    //    restored after; the shrink itself) and then writes outside its buffers. So the input goes
    //    in up to the end of each escape sequence, and a cursor off the screen is put back before
    //    the next byte can use it.
    //  - it trusts a sequence's shape (16 arguments at most, insert mode near the margin):
    //    every CSI and escape sequence is held until it ends and goes in bounded
    //    (replay/sequence_guard.h), never in pieces.
    //  - its UTF-8 decoder writes two code points for one byte when a character is cut short by
    //    the next (a lead byte, a control, then text: "\xe2\x1b[ma" overflows a stack array in
    //    on_text; found by fuzzing with libvterm instrumented). So it is given valid UTF-8 only,
    //    by the one codec (common/utf8.h): each invalid piece becomes U+FFFD before libvterm
    //    sees it. Bytes from 0x80 never end or start a sequence, so this changes no sequence's
    //    bounds, and a character split across two writes waits, whole, for the second. C1
    //    controls in UTF-8 become U+FFFD too (replace_c1_controls).
    // A sequence cut at the end of a write waits for the next one, so it can be checked whole; a
    // CSI longer than kHeldLimit waits in its bounded form, so holding it costs little memory.
    std::string text;
    if (!text_.pending().empty() || std::any_of(input.begin(), input.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
        text = text_.feed(input);
        replace_c1_controls(text);
        input = text;
    }
    std::string joined;
    if (!pending_.empty()) {
        joined = pending_ + std::string(input);
        pending_.clear();
        input = joined;
    }
    size_t written = 0;                      // input before this is with libvterm
    size_t sequence = std::string_view::npos;  // where the escape sequence being scanned began
    size_t last_escape = std::string_view::npos;
    std::string owned;  // the input, when a byte of it has to change
    for (size_t i = 0; i < input.size(); ++i) {
        auto c = static_cast<unsigned char>(input[i]);
        Scan before = scan_;
        bool ended = scan(c);
        if (before == Scan::dcs && c == '$') {
            // DECRQSS (`DCS $ q Pt ST`): libvterm 0.1.4 answers an unknown setting through
            // `"0$r%.s", (int)len, str`, reading an int as the string (ASan: SEGV; found by
            // fuzzing). Which bytes of a DCS it takes for the request depends on how the writes
            // cut it (it keeps a string's pieces only up to its last control in each write), so
            // no '$' of any DCS reaches it: DECRQSS is the only DCS it acts on, and its answers
            // are discarded anyway.
            if (owned.data() != input.data()) {
                owned.assign(input);
                input = owned;
            }
            owned[i] = '_';
        }
        bool in_sequence = before == Scan::escape || before == Scan::intermediate || before == Scan::csi;
        if (!ended && in_sequence && sequence != std::string_view::npos && sequence >= written &&
            (scan_ == Scan::ground || c == 0x1B)) {
            // abandoned (CAN, SUB, a new ESC): libvterm gets only the controls inside it, then ST,
            // so it is out of the sequence exactly where the scanner is (never left inside a CSI)
            write_raw(input.substr(written, sequence - written));
            write_abandoned(input.substr(sequence, i - sequence));
            written = i;
            sequence = std::string_view::npos;
        }
        if (c == 0x1B) last_escape = i;
        // a sequence starts at its ESC, even one that ended a string
        if (c == 0x1B && scan_ == Scan::escape) sequence = i;
        // ... also one that an ESC in a string began (`ESC ] x ESC - [`: ended by its ESC, the string
        // leaves the scanner in an escape's intermediates; fuzzing found REP slipping through there)
        else if (scan_ != before && (scan_ == Scan::escape || scan_ == Scan::csi || scan_ == Scan::intermediate))
            sequence = last_escape;
        if (before == Scan::ground && scan_ == Scan::ground) note_printed(c);
        if (!ended) continue;
        if (sequence != std::string_view::npos && sequence >= written) {
            auto guarded = guard_sequence(input.substr(sequence, i + 1 - sequence));
            std::string_view effective = guarded ? std::string_view(guarded->sequence) : input.substr(sequence, i + 1 - sequence);
            if (guarded || repeat_count(effective)) {
                write_raw(input.substr(written, sequence - written));
                if (guarded) write_raw(guarded->controls);
                if (auto count = repeat_count(effective)) write_repeat(*count);
                else write_raw(effective);
                written = i + 1;
            }
        }
        write_raw(input.substr(written, i + 1 - written));
        written = i + 1;
        sequence = std::string_view::npos;
        keep_cursor_on_screen();
    }
    if (scan_ == Scan::string_escape) sequence = last_escape;  // that ESC may start a sequence
    bool unfinished = scan_ == Scan::escape || scan_ == Scan::intermediate || scan_ == Scan::csi || scan_ == Scan::string_escape;
    if (unfinished && sequence != std::string_view::npos && sequence >= written) {
        write_raw(input.substr(written, sequence - written));
        std::string_view held = input.substr(sequence);
        if (held.size() > kHeldLimit) {
            if (auto guarded = bounded_form(held)) {
                write_raw(guarded->controls);  // they act where they stand, before the sequence
                pending_ = std::move(guarded->sequence);
            } else {
                pending_.assign(held);
            }
        } else {
            pending_.assign(held);
        }
        scan_ = Scan::ground;  // the held bytes are scanned again with the next write
        return;
    }
    write_raw(input.substr(written));
}

// Follows what libvterm prints: ASCII, and UTF-8 sequences (a malformed one prints U+FFFD).
void TerminalScreen::note_printed(unsigned char c) {
    if (c < 0x20 || c == 0x7F) return;  // controls print nothing
    if (c < 0x80) {
        last_glyph_.assign(1, static_cast<char>(c));
        glyph_.clear();
        return;
    }
    if (c >= 0xC0) glyph_.assign(1, static_cast<char>(c));
    else if (!glyph_.empty()) glyph_ += static_cast<char>(c);
    else return;
    auto lead = static_cast<unsigned char>(glyph_[0]);
    size_t need = utf8::sequence_length(lead);
    if (need < 2) need = lead >= 0xF0 ? 4 : 2;  // leads UTF-8 forbids, read as libvterm 0.1.4 reads them
    if (glyph_.size() < need) return;
    last_glyph_ = glyph_;
    glyph_.clear();
}

// REP, without libvterm's: the last character again, up to the right margin (REP never wraps).
void TerminalScreen::write_repeat(int count) {
    if (last_glyph_.empty()) return;  // nothing to repeat yet
    int room = cols_ - cursor_col();
    std::string repeated;
    for (int n = std::min(count, room); n > 0; --n) repeated += last_glyph_;
    write_raw(repeated);
}

void TerminalScreen::write_abandoned(std::string_view unfinished) {
    for (char c : unfinished)
        if (static_cast<unsigned char>(c) < 0x20 && c != 0x1B) write_raw(std::string_view(&c, 1));
    write_raw("\x1b\\");
}

void TerminalScreen::write_guarded(std::string_view unfinished) {
    if (auto guarded = bounded_form(unfinished)) {
        write_raw(guarded->controls);
        write_raw(guarded->sequence);
    } else {
        write_raw(unfinished);  // a lone ESC
    }
}

void TerminalScreen::write_raw(std::string_view bytes) {
    // libvterm takes any byte sequence; bounded pieces keep one huge write cheap.
    constexpr size_t kPiece = 64 * 1024;
    for (size_t pos = 0; pos < bytes.size(); pos += kPiece) {
        auto piece = bytes.substr(pos, kPiece);
        vterm_input_write(vt_.get(), piece.data(), piece.size());
    }
}

void TerminalScreen::keep_cursor_on_screen() {
    VTermPos pos;
    vterm_state_get_cursorpos(vterm_obtain_state(vt_.get()), &pos);
    if (pos.row >= 0 && pos.col >= 0 && pos.row < rows_ && pos.col < cols_) return;
    // where a later libvterm (and xterm) clamps it
    std::string home = "\x1b[" + std::to_string(clamp(pos.row, 0, rows_ - 1) + 1) + ";" +
                       std::to_string(clamp(pos.col, 0, cols_ - 1) + 1) + "H";
    vterm_input_write(vt_.get(), home.data(), home.size());
}

void TerminalScreen::resize(int rows, int cols) {
    rows = clamp(rows, 1, 1000);
    cols = clamp(cols, kMinCols, 2000);
    bool changed = rows != rows_ || cols != cols_;
    rows_ = rows;
    cols_ = cols;
    vterm_set_size(vt_.get(), rows_, cols_);
    // libvterm 0.1.4 keeps a full screen's bottom rows when the height shrinks and moves the
    // cursor up with them without clamping it (fill the screen, go home, shrink the window).
    keep_cursor_on_screen();
    if (!changed) return;
    // It bounds the scrolling region's bottom and right margin to the new size, but not its top
    // and left: a region that began below the new bottom scrolled a negative number of lines
    // (memmove of a negative size; fuzzing). Both margins are reset, as xterm resets them on a
    // resize (each reset homes the cursor: it is put back).
    std::string reset = "\x1b[r\x1b[s\x1b[" + std::to_string(cursor_row() + 1) + ";" + std::to_string(cursor_col() + 1) + "H";
    vterm_input_write(vt_.get(), reset.data(), reset.size());
}

void append_printable_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return;
    utf8::append(out, cp);
}

std::string TerminalScreen::row_text(int row) const {
    std::string out;
    for (int col = 0; col < cols_;) {
        VTermScreenCell cell{};
        vterm_screen_get_cell(screen_, VTermPos{row, col}, &cell);
        if (cell.chars[0] == 0) {
            out += ' ';
        } else {
            for (int i = 0; i < VTERM_MAX_CHARS_PER_CELL && cell.chars[i]; ++i) append_printable_utf8(out, cell.chars[i]);
        }
        col += std::max<int>(cell.width, 1);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

std::vector<std::string> TerminalScreen::text() const {
    std::vector<std::string> lines;
    for (int r = 0; r < rows_; ++r) lines.push_back(row_text(r));
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
}

}  // namespace execaudit::replay
