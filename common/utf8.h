#pragma once
// The one UTF-8 codec of execaudit. Every byte it decodes may be hostile (terminal output, argv,
// names from requests), so there is one policy for invalid input, used everywhere:
//
//   A sequence is valid only as RFC 3629 defines it: no overlong forms, no surrogates
//   (U+D800..U+DFFF), nothing past U+10FFFF. An invalid sequence decodes to one U+FFFD for its
//   "maximal subpart" — the longest prefix that could have started a valid sequence, at least
//   one byte — as Unicode (chapter 3, U+FFFD substitution) and the WHATWG Encoding Standard
//   advise. So "\xE2\x82" then "A" is U+FFFD, 'A'; "\xFF\xFF" is two U+FFFD.
//
// Callers that escape rather than replace (terminal_safe) use the same boundaries: the bytes of
// one invalid subpart are escaped one by one.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace execaudit::utf8 {

inline constexpr uint32_t kReplacement = 0xFFFD;
inline constexpr std::string_view kReplacementText = "\xEF\xBF\xBD";

/// One decoding step at the front of `bytes` (which must not be empty).
struct Step {
    uint32_t code_point;  ///< kReplacement when !valid
    uint8_t length;       ///< bytes consumed: 1..4
    bool valid;
    /// The bytes are a valid beginning that `bytes` ends before completing (a streaming decoder
    /// should wait for more input instead of replacing them).
    bool incomplete;
};
Step decode(std::string_view bytes);

/// Bytes a character with this lead byte takes (1..4), or 0 when it cannot start one.
size_t sequence_length(unsigned char lead);

/// Appends the encoding of `cp`; a surrogate or a value past U+10FFFF appends U+FFFD.
void append(std::string& out, uint32_t cp);

/// Valid UTF-8: every invalid subpart replaced by U+FFFD.
std::string lossy(std::string_view bytes);

/// Whether `bytes` is valid UTF-8 as a whole.
bool valid(std::string_view bytes);

/// Removes the last character of valid UTF-8 text (a backspace in a text field).
void pop_back(std::string& text);

/// Bytes that arrive in pieces (terminal writes cut multi-byte characters anywhere): the same
/// policy, but a valid beginning at the end of a piece waits for the next one.
class Stream {
public:
    /// The valid UTF-8 for `bytes`; an incomplete character at the end waits for the next call.
    std::string feed(std::string_view bytes);
    /// Whatever is still waiting (an incomplete character) as U+FFFD.
    std::string finish();
    /// The incomplete character waiting (for a snapshot), and putting one back.
    const std::string& pending() const { return pending_; }
    void restore(std::string pending) { pending_ = std::move(pending); }

private:
    std::string pending_;  ///< at most 3 bytes: the start of a character
};

}  // namespace execaudit::utf8
