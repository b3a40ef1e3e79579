#include "common/text.h"
#include "common/time_format.h"

#include <gtest/gtest.h>

using namespace execaudit;

namespace {

constexpr int64_t kT = 1'730'204'504'189'258'000;  // 2024-10-29T12:21:44.189258Z

TEST(TimeFormat, AlwaysMicrosecondsUtc) {
    EXPECT_EQ(format_rfc3339_us(kT), "2024-10-29T12:21:44.189258Z");
    EXPECT_EQ(format_rfc3339_us(kT - 189'258'000), "2024-10-29T12:21:44.000000Z");
    EXPECT_EQ(format_rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
}

TEST(TimeFormat, ParsesRfc3339) {
    EXPECT_EQ(parse_rfc3339("2024-10-29T12:21:44.189258Z").value(), kT);
    EXPECT_EQ(parse_rfc3339("2024-10-29T14:21:44.189258+02:00").value(), kT);
    EXPECT_EQ(parse_rfc3339("2024-10-29 12:21:44.189258z").value(), kT);
    EXPECT_EQ(parse_rfc3339("2024-10-29T12:21:44.189258123Z").value(), kT + 123);
    EXPECT_EQ(parse_rfc3339("2024-10-29").value(), kT - (12 * 3600 + 21 * 60 + 44) * 1'000'000'000LL - 189'258'000);
    EXPECT_EQ(parse_rfc3339(format_rfc3339_us(kT)).value(), kT);
}

TEST(TimeFormat, RejectsWithAReason) {
    for (const char* bad : {"2024-13-01", "2024-02-30", "2024-10-29T25:00:00Z", "2024-10-29T12:21:44", "yesterday",
                            "2024-10-29T12:21:44Zjunk", "2024-10-29T12:21:44.Z", ""}) {
        auto r = parse_rfc3339(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_NE(r.error().find("RFC 3339"), std::string::npos);
        }
    }
}

TEST(TimeFormat, Durations) {
    EXPECT_EQ(parse_duration("90s").value(), 90'000'000'000LL);
    EXPECT_EQ(parse_duration("1h30m").value(), 5400'000'000'000LL);
    EXPECT_EQ(parse_duration("7d").value(), 7 * 86400'000'000'000LL);
    EXPECT_FALSE(parse_duration("2"));
    EXPECT_FALSE(parse_duration("2y"));
    EXPECT_FALSE(parse_duration("-2h"));
    EXPECT_FALSE(parse_duration("99999999999999999999h"));
    EXPECT_EQ(parse_time_filter("2h", kT).value(), kT - 7200'000'000'000LL);
    EXPECT_EQ(parse_time_filter("2024-10-29T12:21:44.189258Z", 0).value(), kT);
    EXPECT_FALSE(parse_time_filter("last week", kT));
}

TEST(Text, Utf8Lossy) {
    EXPECT_EQ(utf8_lossy("plain"), "plain");
    EXPECT_EQ(utf8_lossy("h\xc3\xa9"), "h\xc3\xa9");
    EXPECT_EQ(utf8_lossy("a\xff" "b"), "a\xEF\xBF\xBD" "b");
    EXPECT_EQ(utf8_lossy("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");            // overlong '/'
    EXPECT_EQ(utf8_lossy("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
    EXPECT_EQ(utf8_lossy("\xe2\x82"), "\xEF\xBF\xBD");  // cut short: one U+FFFD for its maximal subpart (common/utf8.h)
}

TEST(Text, TerminalSafeNeverEmitsControls) {
    std::string hostile = "ls\x1b]0;owned\x07\x1b[2J\x1b" "c\r\n\t\\\xc2\x9b" "31m\xff";
    std::string safe = terminal_safe(hostile);
    for (unsigned char c : safe) {
        EXPECT_FALSE(c < 0x20 || c == 0x7f) << "control byte " << int(c) << " in " << safe;
    }
    EXPECT_EQ(safe.find("\xc2\x9b"), std::string::npos);  // C1 CSI
    EXPECT_EQ(safe, "ls\\e]0;owned\\x07\\e[2J\\ec\\r\\n\\t\\\\\\u009b31m\\xff");
    EXPECT_EQ(terminal_safe("h\xc3\xa9llo \xe2\x9c\x93"), "h\xc3\xa9llo \xe2\x9c\x93");
}

TEST(Text, Argv) {
    EXPECT_EQ(split_nul(std::string("a\0b c\0\0", 7)), (std::vector<std::string>{"a", "b c", ""}));
    EXPECT_EQ(join_argv({"sh", "-c", "echo 'hi' $HOME", ""}), "sh -c 'echo '\\''hi'\\'' $HOME' ''");
}

}  // namespace
