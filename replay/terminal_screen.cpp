#include "replay/terminal_screen.h"

#include <vterm.h>

#include <algorithm>

namespace execaudit::replay {
namespace {

void discard_output(const char*, size_t, void*) {}

int clamp(int v, int lo, int hi) { return std::max(lo, std::min(v, hi)); }

}  // namespace

void TerminalScreen::VTermDeleter::operator()(VTerm* vt) const { vterm_free(vt); }

TerminalScreen::TerminalScreen(int rows, int cols) : rows_(clamp(rows, 1, 1000)), cols_(clamp(cols, 1, 2000)) {
    vt_.reset(vterm_new(rows_, cols_));
    vterm_set_utf8(vt_.get(), 1);
    vterm_output_set_callback(vt_.get(), discard_output, nullptr);
    screen_ = vterm_obtain_screen(vt_.get());
    vterm_screen_enable_altscreen(screen_, 1);
    vterm_screen_reset(screen_, 1);
}

TerminalScreen::~TerminalScreen() = default;

void TerminalScreen::feed(std::string_view bytes) {
    // libvterm takes any byte sequence; feed in bounded pieces so one huge write stays cheap.
    constexpr size_t kPiece = 64 * 1024;
    for (size_t pos = 0; pos < bytes.size(); pos += kPiece) {
        auto piece = bytes.substr(pos, kPiece);
        vterm_input_write(vt_.get(), piece.data(), piece.size());
    }
}

void TerminalScreen::resize(int rows, int cols) {
    rows_ = clamp(rows, 1, 1000);
    cols_ = clamp(cols, 1, 2000);
    vterm_set_size(vt_.get(), rows_, cols_);
}

void append_printable_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
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
