// libFuzzer target: any recorded output through the player's terminal emulator (libvterm behind
// TerminalScreen's guard). The first byte picks the screen size; 0xFF bytes split the input into
// writes, and a write starting with 0xFE resizes the screen, as a recorded resize would.
#include "replay/terminal_screen.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    int rows = 1 + data[0] % 60, cols = 1 + (data[0] / 4) % 200;
    execaudit::replay::TerminalScreen screen(rows, cols);
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    while (!rest.empty()) {
        size_t cut = rest.find('\xff');
        std::string_view write = rest.substr(0, cut);
        rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + 1);
        if (write.size() >= 3 && write[0] == '\xfe') {
            screen.resize(1 + static_cast<uint8_t>(write[1]) % 80, 1 + static_cast<uint8_t>(write[2]) % 250);
            continue;
        }
        screen.feed(write);
        if (write.size() % 7 == 0) (void)screen.row_text(screen.cursor_row());
    }
    for (int r = 0; r < rows; ++r) (void)screen.row_text(r);
    return 0;
}
