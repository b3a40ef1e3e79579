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
