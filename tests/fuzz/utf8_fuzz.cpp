// libFuzzer target: the one UTF-8 codec (common/utf8.h) and the sanitizers built on it. Properties:
// the output is valid UTF-8, the stream gives the same text however the input is cut, and
// terminal_safe never lets a control character through.
#include "common/text.h"
#include "common/utf8.h"
#include "tests/fuzz/fuzz_check.h"

using namespace execaudit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string copy(fuzz::as_text(data, size));
    std::string whole = utf8::lossy(copy);
    fuzz::check(utf8::valid(whole), "lossy output is not valid UTF-8");
    fuzz::check(utf8::valid(copy) == (whole == copy), "valid input was changed");

    // the stream, fed in pieces cut where the input's own bytes say, equals the whole
    utf8::Stream stream;
    std::string pieces;
    size_t cut = size ? data[0] % 5 + 1 : 1;
    for (size_t pos = 0; pos < copy.size(); pos += cut) pieces += stream.feed(copy.substr(pos, cut));
    pieces += stream.finish();
    fuzz::check(pieces == whole, "the stream and the whole disagree");

    std::string safe = terminal_safe(copy);
    fuzz::check(utf8::valid(safe), "terminal_safe output is not valid UTF-8");
    for (std::string_view rest = safe; !rest.empty();) {
        utf8::Step s = utf8::decode(rest);
        uint32_t cp = s.code_point;
        fuzz::check(!(cp < 0x20 || (cp >= 0x7F && cp < 0xA0)), "terminal_safe let a control character through");
        rest.remove_prefix(s.length);
    }
    for (std::string_view rest = whole; !rest.empty();) {
        utf8::Step s = utf8::decode(rest);
        std::string again;
        utf8::append(again, s.code_point);
        fuzz::check(again == rest.substr(0, s.length), "decode and append disagree");
        rest.remove_prefix(s.length);
    }
    return 0;
}
