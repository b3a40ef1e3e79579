// libFuzzer target: the asciicast export's HostControlFilter (export/host_control_filter.h), fed
// what the export feeds it (recorded output made valid UTF-8). Properties: however the input is
// cut, the output is the same; filtering the output again changes nothing; no string introducer
// (DCS, SOS, PM, APC, ESC k), DECID, ENQ, DECKPAM or input-sending mode (mouse, focus, bracketed
// paste) ever passes, and an OSC that passes is a colour setting without a query.
#include "common/utf8.h"
#include "export/host_control_filter.h"
#include "tests/fuzz/fuzz_check.h"

#include <algorithm>
#include <string>

using namespace execaudit;
using execaudit::exporting::HostControlFilter;

namespace {

std::string filtered(std::string_view in) {
    HostControlFilter f;
    std::string out = f.feed(in);
    return out + f.finish();
}

bool keeps_osc(std::string_view rest) {
    uint32_t n = 0;
    size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9' && digits < 6) n = n * 10 + (rest[digits++] - '0');
    if (digits == 0) return false;
    bool colour = n == 4 || n == 5 || (n >= 10 && n <= 19) || n == 104 || n == 105 || (n >= 110 && n <= 119);
    if (!colour) return false;
    for (size_t i = digits; i < rest.size(); ++i) {
        char c = rest[i];
        if (c == '\x07' || c == '\x1b' || (c == '\xc2' && i + 1 < rest.size() && rest[i + 1] == '\x9c')) return true;
        if (c == '?') return false;
    }
    return true;
}

// A DECSET/DECRST (`CSI ? ... h/l`, 7-bit or C1) starting at `at` (after its introducer): none of
// its parameters is a mode that makes the terminal send input (mouse, focus, bracketed paste).
void check_modes(std::string_view out, size_t at) {
    if (at >= out.size() || out[at] != '?') return;
    size_t end = at + 1;
    while (end < out.size() && ((out[end] >= '0' && out[end] <= ';') || static_cast<unsigned char>(out[end]) < 0x20)) ++end;
    if (end >= out.size() || (out[end] != 'h' && out[end] != 'l')) return;
    std::string params;
    for (char c : out.substr(at + 1, end - at - 1))
        if (c >= '0' && c <= ';') params += c;
    for (size_t from = 0; from <= params.size();) {
        size_t to = std::min(params.find(';', from), params.size());
        std::string p = params.substr(from, to - from);
        from = to + 1;
        fuzz::check(p.find(':') == std::string::npos && p.size() <= 5, "a DECSET parameter that is not a mode number passed");
        if (p.empty()) continue;
        unsigned long m = std::stoul(p);
        fuzz::check(m != 9 && !(m >= 1000 && m <= 1007) && m != 1015 && m != 1016 && m != 2004 && m != 1,
                    "a mode that makes the terminal send input passed");
    }
}

void check_output(std::string_view out) {
    for (size_t i = 0; i < out.size(); ++i) {
        char c = out[i];
        fuzz::check(c != '\x05', "ENQ passed");
        char next = i + 1 < out.size() ? out[i + 1] : 0;
        if (c == '\x1b') {
            fuzz::check(next != 'P' && next != 'X' && next != '^' && next != '_' && next != 'k', "a string introducer passed");
            fuzz::check(next != 'Z', "DECID passed");
            if (next == ']') fuzz::check(keeps_osc(out.substr(i + 2)), "an OSC other than a colour setting passed");
            if (next == '[') check_modes(out, i + 2);
            fuzz::check(next != '=', "DECKPAM passed");
        }
        if (c == '\xc2') {
            fuzz::check(next != '\x90' && next != '\x98' && next != '\x9e' && next != '\x9f', "a C1 string introducer passed");
            fuzz::check(next != '\x9a', "C1 DECID passed");
            if (next == '\x9d') fuzz::check(keeps_osc(out.substr(i + 2)), "a C1 OSC other than a colour setting passed");
            if (next == '\x9b') check_modes(out, i + 2);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text = utf8::lossy(fuzz::as_text(data, size));
    std::string whole = filtered(text);
    check_output(whole);
    fuzz::check(filtered(whole) == whole, "filtering the output again changed it");

    HostControlFilter f;
    std::string pieces;
    size_t cut = size ? data[0] % 7 + 1 : 1;
    for (size_t pos = 0; pos < text.size(); pos += cut) f.feed(std::string_view(text).substr(pos, cut), pieces);
    pieces += f.finish();
    fuzz::check(pieces == whole, "the output depends on where the input is cut");

    filtered(fuzz::as_text(data, size));  // raw bytes (not what the export feeds it): no crash
    return 0;
}
