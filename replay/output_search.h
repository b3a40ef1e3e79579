#pragma once
// Searching what a session printed: the output stream with escape sequences and control
// characters removed, folded to lower case (ASCII), and mapped back to the frame, hence the
// time, at which each byte was shown. A string split across writes is still found.

#include "replay/recording.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::replay {

class OutputSearch {
public:
    explicit OutputSearch(const Recording& recording);

    /// Lower-cases ASCII letters: searches ignore case.
    static std::string fold(std::string_view text);

    /// How much text has been shown once every frame at or before `offset_us` has.
    size_t text_pos_at(uint64_t offset_us) const;
    /// When the text at `text_pos` was shown.
    uint64_t time_of(size_t text_pos) const;

    /// The first match starting at or after `from` (needle already folded).
    std::optional<size_t> find_forward(std::string_view needle, size_t from) const;
    /// The last match starting before `before`.
    std::optional<size_t> find_backward(std::string_view needle, size_t before) const;
    /// How many matches start before `before` (at most `cap`).
    size_t count(std::string_view needle, size_t before, size_t cap) const;

    const std::string& text() const { return text_; }

private:
    std::string text_;
    std::vector<uint64_t> frame_time_;  // per output frame with text
    std::vector<size_t> text_end_;      // text_ size after that frame
};

}  // namespace execaudit::replay
