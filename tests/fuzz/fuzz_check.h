#pragma once
// What every fuzz target shares: an invariant check that aborts (libFuzzer saves the input) and
// a way to cut one input into several.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace execaudit::fuzz {

/// A property of the parser's output that must hold for every input (not an assert: it must also
/// fire in builds with NDEBUG).
inline void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
        std::abort();
    }
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// Splits on 0xFF bytes (never part of valid UTF-8 or JSON, so seeds stay readable).
inline std::vector<std::string_view> split_ff(std::string_view text) {
    std::vector<std::string_view> parts;
    for (;;) {
        size_t cut = text.find('\xff');
        parts.push_back(text.substr(0, cut));
        if (cut == std::string_view::npos) return parts;
        text.remove_prefix(cut + 1);
    }
}

/// True when `part` lies inside `whole` (a decoded view must point into the record it came from).
inline bool within(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

}  // namespace execaudit::fuzz
