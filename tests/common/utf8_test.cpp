// The one UTF-8 policy (common/utf8.h): RFC 3629's well-formed sequences, and one U+FFFD per
// maximal invalid subpart, the same in every place that decodes.
#include "common/text.h"
#include "common/utf8.h"

#include <gtest/gtest.h>

using namespace execaudit;

namespace {

const std::string R(utf8::kReplacementText);

TEST(Utf8, DecodesWellFormedSequences) {
    EXPECT_EQ(utf8::decode("A").code_point, 'A');
    auto e = utf8::decode("\xe2\x82\xac");
    EXPECT_TRUE(e.valid);
    EXPECT_EQ(e.code_point, 0x20AC);
    EXPECT_EQ(e.length, 3);
    auto smile = utf8::decode("\xf0\x9f\x98\x80");
    EXPECT_EQ(smile.code_point, 0x1F600);
    EXPECT_EQ(smile.length, 4);
    EXPECT_EQ(utf8::decode("\xf4\x8f\xbf\xbf").code_point, 0x10FFFF);
}

TEST(Utf8, OneReplacementPerMaximalSubpart) {
    // Unicode's examples (chapter 3, "U+FFFD substitution of maximal subparts")
    EXPECT_EQ(utf8::lossy("\xe2\x82" "A"), R + "A");             // a cut 3-byte sequence: one
    EXPECT_EQ(utf8::lossy("\xff\xfe"), R + R);                    // bytes that start nothing: one each
    EXPECT_EQ(utf8::lossy("\xc0\xaf"), R + R);                    // overlong lead: nothing starts there
    EXPECT_EQ(utf8::lossy("\xe0\x80\xaf"), R + R + R);            // overlong 3-byte: the second byte is out of range
    EXPECT_EQ(utf8::lossy("\xed\xa0\x80"), R + R + R);            // a surrogate is not UTF-8
    EXPECT_EQ(utf8::lossy("\xf4\x90\x80\x80"), R + R + R + R);    // past U+10FFFF
    EXPECT_EQ(utf8::lossy("\xf0\x9f\x98" "x"), R + "x");          // a cut 4-byte sequence: one
    EXPECT_EQ(utf8::lossy(std::string("a\0b", 3)), std::string("a\0b", 3));  // NUL is valid UTF-8
}

TEST(Utf8, EveryPlaceUsesThePolicy) {
    // utf8_lossy (JSON, protobuf), terminal_safe (tables, logs) and the stream (asciicast) agree on
    // the boundaries of an invalid subpart
    EXPECT_EQ(utf8_lossy("\xe2\x82" "A\xff"), R + "A" + R);
    EXPECT_EQ(terminal_safe("\xe2\x82" "A\xff"), "\\xe2\\x82A\\xff");
    utf8::Stream s;
    EXPECT_EQ(s.feed("\xe2\x82" "A\xff") + s.finish(), R + "A" + R);
}

TEST(Utf8, StreamJoinsCharactersSplitAcrossWrites) {
    utf8::Stream s;
    EXPECT_EQ(s.feed("caf\xc3"), "caf");
    EXPECT_EQ(s.feed("\xa9 \xe2\x82"), "\xc3\xa9 ");
    EXPECT_EQ(s.feed("\xac!"), "\xe2\x82\xac!");
    EXPECT_EQ(s.feed("\xff" "a\xc3" "b"), R + "a" + R + "b");
    EXPECT_EQ(s.feed("\xed\xa0\x80"), R + R + R);
    EXPECT_EQ(s.feed("\xf0\x9f"), "");
    EXPECT_EQ(s.feed("\x98"), "");
    EXPECT_EQ(s.feed("\x80"), "\xf0\x9f\x98\x80");
    EXPECT_EQ(s.feed("x\xe2"), "x");
    EXPECT_EQ(s.finish(), R);
    EXPECT_EQ(s.finish(), "");
    EXPECT_EQ(s.feed(std::string("\0", 1)), std::string("\0", 1));
}

TEST(Utf8, EncodesAndRefusesWhatIsNotACharacter) {
    std::string out;
    utf8::append(out, 0xE9);
    utf8::append(out, 0x1F600);
    utf8::append(out, 0xD800);    // a surrogate: U+FFFD
    utf8::append(out, 0x110000);  // past the last: U+FFFD
    EXPECT_EQ(out, "\xc3\xa9\xf0\x9f\x98\x80" + R + R);
    EXPECT_TRUE(utf8::valid(out));
    EXPECT_FALSE(utf8::valid("\xc3"));
    utf8::pop_back(out);
    utf8::pop_back(out);
    EXPECT_EQ(out, "\xc3\xa9\xf0\x9f\x98\x80");
    utf8::pop_back(out);
    EXPECT_EQ(out, "\xc3\xa9");
}

}  // namespace
