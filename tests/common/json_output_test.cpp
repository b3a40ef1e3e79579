// dump_json_safe(): JSON with no raw control character a terminal could act on (issue 12).
#include "common/json_output.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>

using execaudit::dump_json_safe;

namespace {

bool has_raw_control(const std::string& s) {
    for (size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x20 || c == 0x7f) return true;
        if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xa0) return true;
    }
    return false;
}

TEST(DumpJsonSafe, EscapesC0DelAndC1AsUnicodeEscapes) {
    nlohmann::json j = {{"a", "\x1b]52;c;eA==\x07\x7f\xc2\x80\xc2\x9b" "31m\xc2\x9f"}};
    EXPECT_EQ(dump_json_safe(j), R"({"a":"\u001b]52;c;eA==\u0007\u007f\u0080\u009b31m\u009f"})");
}

TEST(DumpJsonSafe, KeepsPrintableUnicodeAndStructure) {
    nlohmann::json j = {{"k\xc2\x9b", {"\xc2\xa0", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}}, {"n", 1}};
    std::string out = dump_json_safe(j, 2);
    EXPECT_EQ(out, "{\n  \"k\\u009b\": [\n    \"\xc2\xa0\",\n    \"\xc3\xa9\",\n    \"\xe2\x82\xac\",\n    \"\xf0\x9f\x98\x80\"\n  ],\n"
                   "  \"n\": 1\n}");
    EXPECT_EQ(nlohmann::json::parse(out), j);
}

TEST(DumpJsonSafe, AsciiOnlyEscapesEverythingNonAscii) {
    nlohmann::json j = std::string("\x7f\xc2\x9b\xc3\xa9");
    EXPECT_EQ(dump_json_safe(j, -1, true), R"("\u007f\u009b\u00e9")");
}

TEST(DumpJsonSafe, InvalidUtf8BecomesReplacementCharactersInsteadOfThrowing) {
    nlohmann::json j = {std::string("\xff"), std::string("\xc2"), std::string("\xc2\x1b"), std::string("a\x9b")};
    std::string out;
    ASSERT_NO_THROW(out = dump_json_safe(j));
    EXPECT_FALSE(has_raw_control(out)) << out;
    EXPECT_EQ(nlohmann::json::parse(out), nlohmann::json({"\xef\xbf\xbd", "\xef\xbf\xbd", "\xef\xbf\xbd\x1b", "a\xef\xbf\xbd"}));
}

TEST(DumpJsonSafe, RandomCodePointsRoundTripWithoutRawControls) {
    std::mt19937 rng(12);
    for (int round = 0; round < 2000; ++round) {
        nlohmann::json::string_t s;
        for (int n = rng() % 24; n > 0; --n) {
            uint32_t cp = rng() % 4 ? rng() % 0x180 : rng() % 0x110000;  // mostly C0..Latin-1
            if (cp >= 0xd800 && cp < 0xe000) cp = 0x9b;
            if (cp < 0x80) s += static_cast<char>(cp);
            else if (cp < 0x800) s += {static_cast<char>(0xc0 | cp >> 6), static_cast<char>(0x80 | (cp & 0x3f))};
            else if (cp < 0x10000)
                s += {static_cast<char>(0xe0 | cp >> 12), static_cast<char>(0x80 | (cp >> 6 & 0x3f)), static_cast<char>(0x80 | (cp & 0x3f))};
            else
                s += {static_cast<char>(0xf0 | cp >> 18), static_cast<char>(0x80 | (cp >> 12 & 0x3f)),
                      static_cast<char>(0x80 | (cp >> 6 & 0x3f)), static_cast<char>(0x80 | (cp & 0x3f))};
        }
        nlohmann::json j = {{s, s}};
        std::string out = dump_json_safe(j);
        ASSERT_FALSE(has_raw_control(out)) << out;
        ASSERT_EQ(nlohmann::json::parse(out), j) << out;
    }
}

}  // namespace
