#include "common/json_output.h"

#include <nlohmann/json.hpp>

namespace execaudit {

std::string dump_json_safe(const nlohmann::json& value, int indent, bool ascii_only) {
    // The dump is valid UTF-8 (replace), with C0 already escaped: DEL (0x7F) and C1 (C2 80..C2 9F)
    // remain. In valid UTF-8, 0xC2 is always a lead byte, and both occur inside strings only.
    std::string dumped = value.dump(indent, ' ', ascii_only, nlohmann::json::error_handler_t::replace);
    if (dumped.find_first_of("\x7f\xc2") == std::string::npos) return dumped;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(dumped.size() + 16);
    for (size_t i = 0; i < dumped.size(); ++i) {
        auto c = static_cast<unsigned char>(dumped[i]);
        unsigned next = i + 1 < dumped.size() ? static_cast<unsigned char>(dumped[i + 1]) : 0;
        if (c == 0x7f || (c == 0xc2 && next >= 0x80 && next < 0xa0)) {
            unsigned cp = c == 0x7f ? 0x7f : next;
            out += "\\u00";
            out += kHex[cp >> 4];
            out += kHex[cp & 0xf];
            if (c == 0xc2) ++i;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

}  // namespace execaudit
