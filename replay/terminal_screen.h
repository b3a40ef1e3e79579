#pragma once
// A terminal emulator (libvterm) at a recorded geometry. Recorded output is fed here and only
// here: escape sequences act on this emulated screen, never on the analyst's terminal.
// Answers the emulator would send back (device attributes, cursor reports) are discarded.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct VTerm;
struct VTermScreen;

namespace execaudit::replay {

class TerminalScreen {
public:
    TerminalScreen(int rows, int cols);
    ~TerminalScreen();
    TerminalScreen(const TerminalScreen&) = delete;
    TerminalScreen& operator=(const TerminalScreen&) = delete;

    /// Feeds recorded output bytes: any bytes at all (invalid UTF-8, NULs, escapes) are safe.
    void feed(std::string_view bytes);
    /// Sizes are clamped to 1..1000 rows and 1..2000 columns.
    void resize(int rows, int cols);

    int rows() const { return rows_; }
    int cols() const { return cols_; }

    /// One row as UTF-8, trailing blanks removed; control characters never appear.
    std::string row_text(int row) const;
    /// Every row; trailing empty rows removed.
    std::vector<std::string> text() const;

    VTermScreen* screen() const { return screen_; }

private:
    struct VTermDeleter {
        void operator()(VTerm* vt) const;
    };
    std::unique_ptr<VTerm, VTermDeleter> vt_;
    VTermScreen* screen_ = nullptr;
    int rows_;
    int cols_;
};

/// Appends a Unicode code point as UTF-8, skipping control characters and invalid values.
void append_printable_utf8(std::string& out, uint32_t cp);

}  // namespace execaudit::replay
