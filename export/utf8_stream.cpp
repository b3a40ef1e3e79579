#include "export/utf8_stream.h"

namespace execaudit::exporting {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the character a lead byte starts (0: not a lead byte), and the range its second
// byte must be in (excludes overlongs, surrogates and values past U+10FFFF).
size_t sequence_length(unsigned char c, unsigned char& lo, unsigned char& hi) {
    lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
        return 4;
    }
    return 0;
}

}  // namespace

std::string Utf8Stream::feed(std::string_view input) {
    std::string data = std::move(pending_);
    pending_.clear();
    data.append(input);
    std::string out;
    out.reserve(data.size());
    size_t i = 0;
    while (i < data.size()) {
        auto c = static_cast<unsigned char>(data[i]);
        unsigned char lo, hi;
        size_t len = sequence_length(c, lo, hi);
        if (len == 0) {
            out += kReplacement;
            ++i;
            continue;
        }
        size_t k = 1;
        for (; k < len && i + k < data.size(); ++k) {
            auto cc = static_cast<unsigned char>(data[i + k]);
            if (k == 1 ? (cc < lo || cc > hi) : (cc & 0xC0) != 0x80) break;
        }
        if (k == len) {
            out.append(data, i, len);
            i += len;
        } else if (i + k == data.size()) {
            pending_.assign(data, i, k);  // a valid start, cut by the end of this write
            break;
        } else {
            out += kReplacement;  // the maximal invalid prefix becomes one replacement (as Unicode advises)
            i += k;
        }
    }
    return out;
}

std::string Utf8Stream::finish() {
    std::string out = pending_.empty() ? "" : std::string(kReplacement);
    pending_.clear();
    return out;
}

}  // namespace execaudit::exporting
