#pragma once
// Random but reproducible terminal sessions that exercise what an emulator keeps hidden:
// escape sequences split across writes, scroll regions, the alternate screen, charsets, saved
// cursors, pending wraps, colours, wide and invalid UTF-8, binary bytes, resizes.

#include "replay/recording.h"

#include <random>
#include <string>
#include <vector>

namespace execaudit::testing {

inline replay::Recording random_session(unsigned seed, size_t pieces, uint32_t rows = 12, uint32_t cols = 40) {
    storage::SessionRecord s;
    s.rows = rows;
    s.cols = cols;
    replay::Recording rec(s);
    std::mt19937 rng(seed);
    auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
    const std::vector<std::string> pieces_of_output = {
        "plain text line\r\n", "\x1b[1;31mred bold\x1b[0m ", "\x1b[38;5;202morange\x1b[m", "\x1b[48;2;10;20;30mrgb bg\x1b[0m",
        "\x1b[3;8r", "\x1b[r", "\x1b[?1049h", "\x1b[?1049l", "\x1b[2J", "\x1b" "c", "\x1b[H", "\x1b[5;10H", "\x1b" "7", "\x1b" "8",
        "\x1b(0lqqk\x1b(B", "\xe4\xbd\xa0\xe5\xa5\xbd", "h\xc3\xa9", "bad\xff\xfe", std::string("nul\0nul", 7), "\x1b]0;title\x07",
        "\x1b[4h", "\x1b[4l", "\x1b[?25l", "\x1b[?25h", "\x1b[2L", "\x1b[3M", "\x1b[7m", "\x1b[27m", "\t", "\x1b[?7l", "\x1b[?7h",
        "0123456789012345678901234567890123456789", "\x1bM", "\x1b" "D", "\x1b[10S", "\x1b[4T", "\x1b#8", "\x1b[?6h", "\x1b[?6l",
        "$ ls -l\r\n", "\r\n\r\n", "\x1b[K", "\x1b[1J", "e\xcc\x81", "\x1b[3@", "\x1b[2P", "\x1b[5X", "\x1b#6",
        "\x1bPdcs", "\x1b\\", "\x1b[1;4;7h", "\x1b[?4h", "\xc2\x9b" "5;5H", "\x9b" "2J", "\x1b\x9f" "8", "\x1b\x00" "8", "\x1b\x18" "8", "\x1b[\x85" "5;5H",
    };
    uint64_t t = 0;
    std::string pending;
    for (size_t i = 0; i < pieces; ++i) {
        size_t k = pick(20);
        if (k == 0) {
            rec.add_resize(t, static_cast<uint32_t>(4 + pick(20)), static_cast<uint32_t>(10 + pick(60)));
        } else if (k == 1) {
            std::string blob(pick(600), '\0');
            for (auto& c : blob) c = static_cast<char>(rng());
            pending += blob;
        } else {
            pending += pieces_of_output[pick(pieces_of_output.size())];
        }
        // cut anywhere, even inside a sequence or a UTF-8 character
        while (!pending.empty() && pick(3) == 0) {
            size_t cut = 1 + pick(pending.size());
            rec.add_output(t, pending.substr(0, cut));
            pending.erase(0, cut);
            t += pick(4) == 0 ? 3'000'000 + pick(10'000'000) : pick(50'000);
        }
    }
    if (!pending.empty()) rec.add_output(t, pending);
    return rec;
}

}  // namespace execaudit::testing
