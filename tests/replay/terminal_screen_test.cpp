#include "replay/terminal_screen.h"

#include <gtest/gtest.h>

#include <random>

using execaudit::replay::TerminalScreen;

namespace {

TEST(TerminalScreen, RendersWhatATerminalWouldShow) {
    TerminalScreen s(5, 20);
    s.feed("hello\r\nworld\r\n\x1b[1;31mred\x1b[0m text");
    auto lines = s.text();
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0], "hello");
    EXPECT_EQ(lines[1], "world");
    EXPECT_EQ(lines[2], "red text");
}

TEST(TerminalScreen, EscapesActOnTheEmulatorOnly) {
    TerminalScreen s(5, 40);
    s.feed("before\r\n\x1b]0;stolen title\x07\x1b[2J\x1b[Hafter clear\x1b[?1049h\x1b" "c" "after reset");
    auto lines = s.text();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0], "after reset");
}

TEST(TerminalScreen, UnicodeWideAndInvalid) {
    TerminalScreen s(3, 20);
    s.feed(std::string("h\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd!\r\nbad\xff\xfe\x00" "end", 22));
    auto lines = s.text();
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], "h\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd!");
    EXPECT_EQ(lines[1].substr(0, 3), "bad");
    EXPECT_NE(lines[1].find("end"), std::string::npos);
    for (unsigned char c : lines[1]) EXPECT_GE(c, 0x20);
}

TEST(TerminalScreen, ResizeAndClamp) {
    TerminalScreen s(2, 10);
    s.resize(4, 30);
    EXPECT_EQ(s.rows(), 4);
    EXPECT_EQ(s.cols(), 30);
    s.feed("a long line of more than ten characters");
    EXPECT_EQ(s.text()[0], "a long line of more than ten c");
    TerminalScreen huge(100000, -5);
    EXPECT_EQ(huge.rows(), 1000);
    EXPECT_EQ(huge.cols(), 1);
}

TEST(TerminalScreen, MegabytesOfRandomBytes) {
    TerminalScreen s(24, 80);
    std::mt19937 rng(3);
    std::string blob(1 << 20, '\0');
    for (auto& c : blob) c = static_cast<char>(rng());
    s.feed(blob);
    s.feed("\x1b" "c" "still alive");
    EXPECT_EQ(s.text().at(0), "still alive");
}

}  // namespace
