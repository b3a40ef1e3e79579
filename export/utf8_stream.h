#pragma once
// Terminal output arrives in writes that split multi-byte characters anywhere, and a hostile
// session writes any bytes at all. This decoder turns such a byte stream into valid UTF-8 piece
// by piece: a character split across two writes is kept whole, an invalid byte becomes U+FFFD.

#include <string>
#include <string_view>

namespace execaudit::exporting {

class Utf8Stream {
public:
    /// The valid UTF-8 for `bytes`; an incomplete character at the end waits for the next call.
    std::string feed(std::string_view bytes);
    /// Whatever is still waiting (an incomplete character) as U+FFFD.
    std::string finish();

private:
    std::string pending_;  ///< at most 3 bytes: the start of a character
};

}  // namespace execaudit::exporting
