#include "common/utf8.h"

namespace execaudit::utf8 {
namespace {

// The range a character's second byte must be in, for its lead byte (excludes overlongs,
// surrogates and values past U+10FFFF: RFC 3629's table of well-formed sequences).
void second_byte_range(unsigned char lead, unsigned char& lo, unsigned char& hi) {
    lo = 0x80, hi = 0xBF;
    if (lead == 0xE0) lo = 0xA0;
    else if (lead == 0xED) hi = 0x9F;
    else if (lead == 0xF0) lo = 0x90;
    else if (lead == 0xF4) hi = 0x8F;
}

}  // namespace

size_t sequence_length(unsigned char lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;
}

Step decode(std::string_view bytes) {
    auto lead = static_cast<unsigned char>(bytes[0]);
    size_t len = sequence_length(lead);
    if (len == 1) return {lead, 1, true, false};
    if (len == 0) return {kReplacement, 1, false, false};
    unsigned char lo, hi;
    second_byte_range(lead, lo, hi);
    uint32_t cp = lead & (0x7F >> len);
    size_t k = 1;
    for (; k < len && k < bytes.size(); ++k) {
        auto c = static_cast<unsigned char>(bytes[k]);
        if (k == 1 ? (c < lo || c > hi) : (c & 0xC0) != 0x80) break;
        cp = (cp << 6) | (c & 0x3F);
    }
    if (k == len) return {cp, static_cast<uint8_t>(len), true, false};
    return {kReplacement, static_cast<uint8_t>(k), false, k == bytes.size()};
}

void append(std::string& out, uint32_t cp) {
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::string lossy(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    while (!bytes.empty()) {
        Step s = decode(bytes);
        if (s.valid) out.append(bytes.substr(0, s.length));
        else out += kReplacementText;
        bytes.remove_prefix(s.length);
    }
    return out;
}

bool valid(std::string_view bytes) {
    while (!bytes.empty()) {
        Step s = decode(bytes);
        if (!s.valid) return false;
        bytes.remove_prefix(s.length);
    }
    return true;
}

void pop_back(std::string& text) {
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) text.pop_back();
    if (!text.empty()) text.pop_back();
}

std::string Stream::feed(std::string_view input) {
    std::string data = std::move(pending_);
    pending_.clear();
    data.append(input);
    std::string out;
    out.reserve(data.size());
    std::string_view rest = data;
    while (!rest.empty()) {
        Step s = decode(rest);
        if (s.incomplete) {
            pending_.assign(rest);  // a valid start, cut by the end of this write
            break;
        }
        if (s.valid) out.append(rest.substr(0, s.length));
        else out += kReplacementText;
        rest.remove_prefix(s.length);
    }
    return out;
}

std::string Stream::finish() {
    std::string out = pending_.empty() ? "" : std::string(kReplacementText);
    pending_.clear();
    return out;
}

}  // namespace execaudit::utf8
