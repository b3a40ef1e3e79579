#pragma once
// The bounds every escape sequence is held to before it reaches libvterm 0.1.4, which trusts
// its input: more than 16 CSI arguments overflow its argument array (`CSI ;;;;;;;;;;;;;;;;H`,
// 18 bytes, crashed every replay path), and other shapes corrupt it in other ways. Found and
// checked by tests/fuzz/terminal_screen_fuzz.cpp. Pure functions: TerminalScreen applies them.

#include <optional>
#include <string>
#include <string_view>

namespace execaudit::replay {

/// What libvterm is given of one sequence: the controls found inside it (C0 bytes, which a
/// terminal executes where they stand, before the sequence acts), then the sequence itself.
struct GuardedSequence {
    std::string controls;
    std::string sequence;
};

/// Limits. Real programs stay far inside them (xterm keeps 30 arguments of up to 65535).
inline constexpr size_t kMaxCsiArguments = 16;  ///< libvterm's CSI_ARGS_MAX
inline constexpr int kMaxArgumentValue = 9999;  ///< beyond any screen (1000 rows, 2000 columns)
inline constexpr size_t kMaxLeaders = 1;         ///< `?`, `>`, `=`, `<`
inline constexpr size_t kMaxIntermediates = 2;   ///< bytes 0x20..0x2F

/// For a CSI (`ESC [` …, with or without its final byte yet) or an escape sequence with
/// intermediates (`ESC SP F`, `ESC ( B`): nullopt when it is within the bounds and passes as it
/// is; otherwise the bounded form. Insert mode (IRM, `CSI 4 h`) is dropped too: it corrupts
/// libvterm's memory near the right margin. Never returns an empty sequence: the sequence may be
/// what ends a string in libvterm.
std::optional<GuardedSequence> guard_sequence(std::string_view seq);

/// The same, but always the rebuilt form (leading zeros gone): what an unfinished sequence is
/// held as while it waits for more bytes, so its size stays bounded whatever follows.
/// nullopt only when `seq` is neither a CSI nor an escape sequence with intermediates.
std::optional<GuardedSequence> bounded_form(std::string_view seq);

/// For REP (`CSI Pn b`, repeat the preceding character): how many times (1..kMaxArgumentValue).
/// libvterm 0.1.4 loops forever on REP when the preceding glyph had no width (none yet, or a
/// lone combining mark), so TerminalScreen repeats the character itself.
std::optional<int> repeat_count(std::string_view seq);

}  // namespace execaudit::replay
