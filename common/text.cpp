#include "common/text.h"

#include "common/utf8.h"

#include <fmt/format.h>

namespace execaudit {
std::string utf8_lossy(std::string_view s) { return utf8::lossy(s); }

std::string terminal_safe(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        utf8::Step step = utf8::decode(s.substr(i));
        size_t len = step.length;
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (!step.valid) {  // each byte of the invalid subpart, escaped
            for (size_t k = 0; k < len; ++k) out += fmt::format("\\x{:02x}", static_cast<unsigned char>(s[i + k]));
            i += len;
            continue;
        }
        if (len == 1) {
            if (c == '\\') out += "\\\\";
            else if (c == '\n') out += "\\n";
            else if (c == '\t') out += "\\t";
            else if (c == '\r') out += "\\r";
            else if (c == 0x1B) out += "\\e";
            else if (c < 0x20 || c == 0x7F) out += fmt::format("\\x{:02x}", c);
            else out += static_cast<char>(c);
        } else if (len == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) {
            // C1 controls U+0080..U+009F: some terminals act on them (CSI = U+009B)
            out += fmt::format("\\u{:04x}", static_cast<unsigned char>(s[i + 1]));
        } else {
            out.append(s.substr(i, len));
        }
        i += len;
    }
    return out;
}

namespace {
bool plain_number(std::string_view s) {
    size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    bool digits = false, dot = false;
    for (; i < s.size(); ++i) {
        if (s[i] >= '0' && s[i] <= '9') digits = true;
        else if (s[i] == '.' && !dot) dot = true;
        else return false;
    }
    return digits;
}
}  // namespace

std::string csv_cell(std::string_view bytes) {
    size_t first = bytes.find_first_not_of(" \t\r\n");
    bool formula = !bytes.empty() && (bytes[0] == '\t' || bytes[0] == '\r');
    if (first != std::string_view::npos && std::string_view("=+-@").find(bytes[first]) != std::string_view::npos)
        formula = true;
    if (formula && plain_number(bytes)) formula = false;
    std::string v = (formula ? "'" : "") + terminal_safe(bytes);
    bool quote = v.find_first_of(",\"") != std::string::npos || (!v.empty() && (v.front() == ' ' || v.back() == ' '));
    if (!quote) return v;
    std::string out = "\"";
    for (char c : v) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::vector<std::string> split_nul(std::string_view bytes) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < bytes.size()) {
        size_t end = bytes.find('\0', start);
        if (end == std::string_view::npos) end = bytes.size();
        out.emplace_back(bytes.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

std::string join_argv(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& arg : argv) {
        if (!out.empty()) out += ' ';
        bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`") == std::string::npos;
        if (plain) {
            out += arg;
        } else {
            out += '\'';
            for (char c : arg) {
                if (c == '\'') out += "'\\''";
                else out += c;
            }
            out += '\'';
        }
    }
    return out;
}

}  // namespace execaudit
