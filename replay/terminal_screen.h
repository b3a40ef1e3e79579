#pragma once
// A terminal emulator (libvterm) at a recorded geometry. Recorded output is fed here and only
// here: escape sequences act on this emulated screen, never on the analyst's terminal.
// Answers the emulator would send back (device attributes, cursor reports) are discarded.
// Its complete state can be saved and restored exactly (replay/vterm_arena.h): keyframes.

#include "common/utf8.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct VTerm;
struct VTermScreen;

namespace execaudit::replay {

class VtermArena;

class TerminalScreen {
public:
    /// The emulator's complete state; only the screen that made it can restore it.
    struct Snapshot {
        std::string image;  ///< the emulator's memory
        int rows = 0;
        int cols = 0;
        bool cursor_visible = true;
        int scan = 0;
        std::string pending;
        std::string last_glyph;
        std::string text_pending;  ///< a UTF-8 character cut at the end of the last write
        const TerminalScreen* owner = nullptr;
    };

    TerminalScreen(int rows, int cols);
    ~TerminalScreen();
    TerminalScreen(const TerminalScreen&) = delete;
    TerminalScreen& operator=(const TerminalScreen&) = delete;

    /// Feeds recorded output bytes: any bytes at all (invalid UTF-8, NULs, escapes) are safe.
    void feed(std::string_view bytes);
    /// Sizes are clamped to 1..1000 rows and 2..2000 columns: libvterm 0.1.4 writes outside its
    /// buffer when a wide character meets a one-column screen.
    void resize(int rows, int cols);

    int rows() const { return rows_; }
    int cols() const { return cols_; }
    int cursor_row() const;
    int cursor_col() const;
    bool cursor_visible() const { return cursor_visible_; }

    Snapshot snapshot() const;
    /// The same, reusing `s`'s memory.
    void snapshot_into(Snapshot& s) const;
    /// Afterwards the screen is exactly as it was when `s` was taken. False when `s` is not
    /// this screen's (nothing changes then).
    bool restore(const Snapshot& s);

    /// One row as UTF-8, trailing blanks removed; control characters never appear.
    std::string row_text(int row) const;
    /// Every row; trailing empty rows removed.
    std::vector<std::string> text() const;

    VTermScreen* screen() const { return screen_; }
    /// Bytes of answers libvterm produced (and that were discarded) since this screen was made.
    size_t answer_bytes() const { return answer_bytes_; }

private:
    struct VTermDeleter {
        void operator()(VTerm* vt) const;
    };
    // Where the input is within an escape sequence (see feed()).
    // dcs is a string that is a DCS (its '$' are changed: see feed()).
    enum class Scan { ground, escape, intermediate, csi, string, string_escape, dcs };
    static constexpr int kMinCols = 2;
    static constexpr size_t kHeldLimit = 256;  // bytes of an unfinished sequence held as they are

    /// Advances the scanner by one byte; true when it ends an escape sequence or string.
    bool scan(unsigned char c);
    void write_raw(std::string_view bytes);
    /// An unfinished sequence, in its bounded form.
    void write_guarded(std::string_view unfinished);
    /// A sequence cut short by CAN, SUB or ESC: its controls, then ST.
    void write_abandoned(std::string_view unfinished);
    void keep_cursor_on_screen();

    std::unique_ptr<VtermArena> arena_;  // outlives vt_: it holds vt_'s memory
    std::unique_ptr<VTerm, VTermDeleter> vt_;
    VTermScreen* screen_ = nullptr;
    int rows_;
    int cols_;
    bool cursor_visible_ = true;
    size_t answer_bytes_ = 0;
    Scan scan_ = Scan::ground;
    std::string pending_;  // an escape sequence cut at the end of the last write
    utf8::Stream text_;    // libvterm is given valid UTF-8 only (see feed)
    // The last character printed (UTF-8), for REP, and the one being decoded.
    std::string last_glyph_;
    std::string glyph_;
    void note_printed(unsigned char c);
    void write_repeat(int count);
};

/// Appends a Unicode code point as UTF-8, skipping control characters and invalid values.
void append_printable_utf8(std::string& out, uint32_t cp);

}  // namespace execaudit::replay
