// HostControlFilter: what acts on the terminal playing an asciicast is removed, however it is
// cut into frames; everything that draws passes byte for byte (issue 12).
#include "export/host_control_filter.h"

#include <gtest/gtest.h>

#include <random>

using execaudit::exporting::HostControlFilter;

namespace {

std::string filtered(std::string_view in) {
    HostControlFilter f;
    std::string out = f.feed(in);
    return out + f.finish();
}

// The same input cut at every position into two feeds, and fed byte by byte.
void expect_any_split(const std::string& in, const std::string& expected) {
    EXPECT_EQ(filtered(in), expected) << ::testing::PrintToString(in);
    for (size_t cut = 0; cut <= in.size(); ++cut) {
        HostControlFilter f;
        std::string out = f.feed(in.substr(0, cut));
        out += f.feed(in.substr(cut));
        out += f.finish();
        ASSERT_EQ(out, expected) << "cut at " << cut << " of " << ::testing::PrintToString(in);
    }
    HostControlFilter f;
    std::string out;
    for (char c : in) f.feed(std::string_view(&c, 1), out);
    out += f.finish();
    EXPECT_EQ(out, expected) << "byte by byte: " << ::testing::PrintToString(in);
}

TEST(HostControlFilter, DrawingPassesByteForByte) {
    for (std::string s : {
             std::string("plain text, caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\r\n\t\b\x07"),
             std::string("\x1b[1;31mred\x1b[0m \x1b[38;2;255;128;0mrgb\x1b[m \x1b[4:3munder\x1b[24m"),
             std::string("\x1b[H\x1b[2J\x1b[10;20H\x1b[K\x1b[?25l\x1b[?1049h\x1b[?1049l\x1b[3A\x1b[1;24r\x1b[r\x1b[?25h"),
             std::string("\x1b" "7\x1b" "8\x1b(0qqq\x1b(B\x1b" "c\x1b>\x1bM\x1b#8\x1b[2 q\x1b[4h\x1b[s\x1b[u\x1b[4l\x1b[0 q"),
             std::string("\xc2\x9b" "1;32mC1 SGR\xc2\x9b" "0m\xc2\x85\xc2\xa0nbsp"),
             std::string("\x1b]4;1;rgb:ff/00/00\x07\x1b]10;#ffffff\x1b\\\x1b]11;rgb:00/00/00\xc2\x9c\x1b]104\x07\x1b]112\x07"),
         })
        expect_any_split(s, s);
}

TEST(HostControlFilter, RemovesStringsThatActOnTheTerminal) {
    expect_any_split("a\x1b]52;c;b3duZWQ=\x07" "b", "ab");                    // clipboard write, BEL
    expect_any_split("a\x1b]52;c;?\x1b\\b", "ab");                             // clipboard read, ST
    expect_any_split("a\x1b]0;owned\x07\x1b]1;icon\x1b\\\x1b]2;title\xc2\x9c" "b", "ab");  // titles
    expect_any_split("a\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\b", "alinkb");  // hyperlink
    expect_any_split("a\x1b]9;notify\x07\x1b]777;notify;x;y\x07\x1b]1337;File=x\x07" "b", "ab");
    expect_any_split("a\x1bP$qm\x1b\\\x1bP+q544e\x1b\\\x1bPq#0;2;0;0;0~~\x1b\\" "b", "ab");  // DECRQSS, XTGETTCAP, sixel
    expect_any_split("a\x1b_Gf=100;AAAA\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\\x1bktmux title\x1b\\" "b", "ab");
    expect_any_split("a\xc2\x9d" "52;c;eA==\x07\xc2\x90$qm\xc2\x9c\xc2\x9f" "apc\xc2\x9c\xc2\x9e" "pm\xc2\x9c\xc2\x98sos\xc2\x9c" "b",
                     "ab");  // the C1 forms
    // tmux passthrough: the doubled ESC ends the DCS and starts the OSC, removed too; the lone ST is a no-op
    expect_any_split("a\x1bPtmux;\x1b\x1b]52;c;eA==\x07\x1b\\b", "a\x1b\\b");
    expect_any_split("a\x1bPdcs\x07still dcs\x1b\\b", "ab");                   // BEL ends only an OSC
}

TEST(HostControlFilter, RemovesQueriesThatMakeTheTerminalAnswer) {
    for (std::string q : {"\x1b[c", "\x1b[0c", "\x1b[>c", "\x1b[>0c", "\x1b[=c", "\x1b[5n", "\x1b[6n", "\x1b[?6n", "\x1b[?996n",
                          "\x1b[x", "\x1b[1x", "\x1b[18t", "\x1b[21t", "\x1b[14;2t", "\x1b[8;50;200t", "\x1b[22;0t", "\x1b[>0t",
                          "\x1b[?2004$p", "\x1b[4$p", "\x1b[>q", "\x1b[>0q", "\x1b[?4m", "\x1b[?u", "\x1b[?1;1S", "\x1b[1;1;1;1;1;1*y",
                          "\x1b[1$w", "\x1b[1$u", "\x1b[&u", "\x1b[\"v", "\x1b['|", "\x1b[1;1;2;2#|", "\x1b[+x", "\x1b[1,w", "\x1bZ",
                          "\xc2\x9a", "\xc2\x9b" "c", "\xc2\x9b" "6n", "\x05", "\x1b]4;1;?\x07", "\x1b]10;?\x07", "\x1b]11;?\x1b\\",
                          "\x1b]12;?\xc2\x9c", "\x1b]4;1;rgb:ff/00/00;2;?\x07", "\x1b[1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;18c"})
        expect_any_split("a" + q + "b", "ab");
}

TEST(HostControlFilter, ControlsInsideARemovedSequenceStillHappen) {
    expect_any_split("\x1b[\r6n", "\r");
    expect_any_split("\x1b[6\nn", "\n");
    expect_any_split("\x1b[1\n;2H", "\x1b[1\n;2H");      // kept whole, in order
    expect_any_split("\x1b[\x05" "6n", "");               // ENQ never passes
}

TEST(HostControlFilter, CancelAndEscapeEndSequences) {
    expect_any_split("a\x1b]52;c;eA==\x18" "b", "a\x18" "b");  // CAN aborts the string
    expect_any_split("a\x1b[6\x1a" "b", "a\x1a" "b");          // SUB aborts the CSI
    expect_any_split("a\x1b]0;title\x1b[31mred", "a\x1b[31mred");  // ESC ends the string, starts a CSI
    expect_any_split("a\x1b[6\x1b[31mred", "a\x1b[31mred");
    expect_any_split("a\x1b\x1b[31mred", "a\x1b[31mred");
    expect_any_split("a\x1b]0;t\xc2\x9b" "6n" "b", "ab");      // a C1 CSI ends the string; it is a query
    expect_any_split("a\x1b[3\xc3\xa9" "b", "a\xc3\xa9" "b");   // a character abandons the CSI
}

TEST(HostControlFilter, MalformedSequencesAreRemoved) {
    expect_any_split("a\x1b[1$2pb", "ab");    // a parameter after an intermediate
    expect_any_split("a\x1b[1?6nb", "ab");    // a marker not first
    expect_any_split("a\x1b]L title\x1b\\b", "ab");
}

TEST(HostControlFilter, AnUnfinishedSequenceAtTheEndIsDropped) {
    EXPECT_EQ(filtered("text\x1b]52;c;eA=="), "text");
    EXPECT_EQ(filtered("text\x1b[1;3"), "text");
    EXPECT_EQ(filtered("text\x1b"), "text");
    EXPECT_EQ(filtered("text\x1b]4;1;rgb:ff"), "text");
    EXPECT_EQ(filtered("text\x1b[\r"), "text\r");
}

TEST(HostControlFilter, LongPayloadsAreRemovedToTheirEndWithBoundedState) {
    for (std::string introducer : {"\x1b]52;c;", "\x1bP", "\x1b_", "\x1b]4;1;", "\x1b[", "\x1b(", "\xc2\x9d" "0;"}) {
        bool csi = introducer == "\x1b[";
        bool esc = introducer == "\x1b(";
        std::string payload(4 << 20, csi ? '1' : esc ? ' ' : 'A');  // parameters, intermediates, text
        HostControlFilter f;
        std::string out = f.feed("before ");
        for (size_t i = 0; i < payload.size(); i += 4096) {
            f.feed(i == 0 ? introducer + payload.substr(0, 4096) : payload.substr(i, 4096), out);
            ASSERT_LE(out.size(), 7u) << "nothing of the payload passes";
        }
        f.feed(csi ? "c after" : esc ? "B after" : "\x1b\\ after", out);
        out += f.finish();
        EXPECT_EQ(out, "before  after") << ::testing::PrintToString(introducer);
    }
    // A colour setting longer than kMaxKeptString is removed.
    EXPECT_EQ(filtered("\x1b]4;1;" + std::string(HostControlFilter::kMaxKeptString, 'f') + "\x07" "x"), "x");
    // A long SGR under the bound is kept.
    std::string sgr = "\x1b[";
    for (int i = 0; i < 30; ++i) sgr += "38;5;1;";
    sgr += "0m";
    ASSERT_LT(sgr.size(), HostControlFilter::kMaxSequence);
    expect_any_split(sgr + "x", sgr + "x");
}

// Random streams of drawing and hostile pieces: no hostile piece survives, the result is a fixed
// point (filtering it again changes nothing), and how the stream is cut does not matter.
TEST(HostControlFilter, RandomStreamsCutAnywhere) {
    const std::vector<std::string> drawing = {"text ", "\xc3\xa9", "\r\n", "\x1b[1;31m", "\x1b[0m", "\x1b[H", "\x1b[?1049h",
                                              "\x1b(0", "\x1b" "7", "\xc2\x9b" "2J", "\x1b]4;1;rgb:1/2/3\x07", "\x1b[2 q"};
    const std::vector<std::string> hostile = {"\x1b]52;c;", "\x1b]0;", "\x1bP", "\x1b_", "\x1b^", "\x1bX", "\xc2\x9d", "\xc2\x90",
                                              "\x1b[c", "\x1b[6n", "\x1b[>c", "\x1b[21t", "\x1bZ", "\x05", "\x1b]11;?", "\x07",
                                              "\x1b\\", "\xc2\x9c", "\x1b", "\x18", "payload", "\x1b[", "6n", "\xc2\x9b"};
    std::mt19937 rng(7);
    for (int round = 0; round < 3000; ++round) {
        std::string in;
        for (int n = rng() % 12; n > 0; --n) {
            const auto& pool = rng() % 2 ? drawing : hostile;
            in += pool[rng() % pool.size()];
        }
        std::string out = filtered(in);
        ASSERT_EQ(filtered(out), out) << ::testing::PrintToString(in);
        for (std::string bad : {"\x1b]52", "\x1b]0", "\x1bP", "\x1b_", "\x1b^", "\x1bX", "\xc2\x9d" "0", "\xc2\x90", "\x1b[c", "\x1b[6n",
                                "\x1b[>c", "\x1b[21t", "\x1bZ", "\x05", "\x1b]11"})
            ASSERT_EQ(out.find(bad), std::string::npos) << ::testing::PrintToString(in) << " -> " << ::testing::PrintToString(out);
        HostControlFilter f;
        std::string pieces;
        for (size_t i = 0; i < in.size();) {
            size_t len = 1 + rng() % 5;
            f.feed(std::string_view(in).substr(i, len), pieces);
            i += len;
        }
        pieces += f.finish();
        ASSERT_EQ(pieces, out) << ::testing::PrintToString(in);
    }
}

// Modes that make the analyst's terminal send input (mouse, focus, paste, keys), kept on after
// asciinema exits: removed, in both forms and wherever cut; a DECSET's other parameters stay.
TEST(HostControlFilter, RemovesModesThatMakeTheTerminalSendInput) {
    for (std::string mode : {"9", "1000", "1001", "1002", "1003", "1004", "1005", "1006", "1007", "1015", "1016", "2004", "1", "66",
                             "67", "1036", "1039", "1042", "1043", "1052", "2031", "7727", "9001", "01000"})
        for (std::string set : {"h", "l"}) {
            expect_any_split("a\x1b[?" + mode + set + "b", "ab");
            expect_any_split("a\xc2\x9b?" + mode + set + "b", "ab");
        }
    expect_any_split("a\x1b[?1000;1002;1006;1015hb\x1b[?1000;1006l", "ab");  // tmux's and vim's forms
    expect_any_split("\x1b[?1049;1000;25h" "vim", "\x1b[?1049;25h" "vim\x1b[?1049l");
    expect_any_split("\xc2\x9b?2004;7lx", "\xc2\x9b?7lx\x1b[?7h");
    expect_any_split("a\x1b[?1000:1hb\x1b[?100000hc", "abc");   // not mode numbers: no terminal needs them
    expect_any_split("a\x1b[?10\n00hb", "a\nb");                 // the control inside still happens
    // ... also between the ESC and its [, where the rewritten mode change once kept the control
    // as its introducer (`ESC SO 0 h`: fuzzing found filtering the output again changed it)
    expect_any_split("a\x1b\x0e[2;0\x0fhb", "a\x0e\x0f\x1b[0hb");
    expect_any_split("a\x1b[12l\x1b[2h\x1b[12;4hb", "a\x1b[4hb\x1b[4l");  // SRM (local echo), KAM (keyboard lock)
    expect_any_split("a\x1b[?1h\x1b=b\x1b>", "ab\x1b>");            // application cursor keys and keypad
    // key encodings: modifyOtherKeys, formatOtherKeys, the kitty keyboard protocol (push, set, pop)
    expect_any_split("a\x1b[>4;2m\x1b[>1;1f\x1b[>1u\x1b[=5;1u\x1b[<u\xc2\x9b>3ub", "ab");
    expect_any_split("a\x1b[s\x1b[ub\x1b[>4m", "a\x1b[s\x1b[ub");  // CSI u without a marker restores the cursor
}

// Drawing modes pass, and what the recording left set is reset at its end, so the analyst's
// terminal (and the shell after asciinema) is as it was: a session killed inside vim or less.
TEST(HostControlFilter, ResetsWhatTheRecordingLeftSet) {
    expect_any_split("\x1b[?1049h\x1b[?1hvim", "\x1b[?1049hvim\x1b[?1049l");
    expect_any_split("\x1b[?47hx", "\x1b[?47hx\x1b[?47l");
    expect_any_split("\x1b[?1049h\x1b[?1049lx", "\x1b[?1049h\x1b[?1049lx");  // left again: nothing to reset
    expect_any_split("\x1b[?25lx", "\x1b[?25lx\x1b[?25h");
    expect_any_split("\x1b[?7l\x1b[?5h\x1b[?6hx", "\x1b[?7l\x1b[?5h\x1b[?6hx\x1b[?6l\x1b[?7h\x1b[?5l");
    expect_any_split("\x1b[?2026hx", "\x1b[?2026hx\x1b[?2026l");
    expect_any_split("\x1b[2;20rx", "\x1b[2;20rx\x1b" "7\x1b[r\x1b" "8");
    expect_any_split("\x1b[4h\x1b[20hx", "\x1b[4h\x1b[20hx\x1b[4l\x1b[20l");
    expect_any_split("\x1b[5 qx", "\x1b[5 qx\x1b[0 q");
    expect_any_split("\x1b(0lqk\x0e", "\x1b(0lqk\x0e\x0f\x1b(B");
    expect_any_split("\x1b[?1049h\x1b[?25l\x1b(0\x1b" "cclean", "\x1b[?1049h\x1b[?25l\x1b(0\x1b" "cclean");  // RIS resets all
    // what the filter wrote plays the same through it again: nothing more is added
    std::string once = filtered("\x1b[?1049h\x1b[?25l\x1b[3;9r\x1b[?1000h\x1b(0\x0e");
    EXPECT_EQ(filtered(once), once);
}

}  // namespace
