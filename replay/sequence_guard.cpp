#include "replay/sequence_guard.h"

#include <algorithm>
#include <vector>

namespace execaudit::replay {
namespace {

bool is_c0(unsigned char c) { return c < 0x20; }
bool is_final(unsigned char c) { return c >= 0x40 && c <= 0x7E; }
bool is_intermediate(unsigned char c) { return c >= 0x20 && c <= 0x2F; }

// The arguments of a CSI as libvterm reads them: digits, separated by `;` (and `:` between
// sub-arguments). Each keeps its separator so the rebuilt form means the same.
struct Argument {
    std::string digits;  // without leading zeros
    bool had_digits = false;
    char separator = 0;  // the one before it (0 for the first)
};

std::string bounded_digits(const Argument& a) {
    if (!a.had_digits) return {};
    if (a.digits.empty()) return "0";
    if (a.digits.size() > 4) return std::to_string(kMaxArgumentValue);
    return a.digits;
}

std::optional<GuardedSequence> guard_csi(std::string_view seq, bool always) {
    GuardedSequence out;
    std::string leaders, intermediates;
    std::vector<Argument> args(1);
    bool changed = false, in_args = true;
    char final_byte = 0;
    for (size_t i = 2; i < seq.size(); ++i) {
        auto c = static_cast<unsigned char>(seq[i]);
        if (is_c0(c)) {
            out.controls += static_cast<char>(c);
            changed = true;
        } else if (is_final(c) && i + 1 == seq.size()) {
            final_byte = static_cast<char>(c);
        } else if (c >= 0x3C && c <= 0x3F && in_args && args.size() == 1 && !args[0].had_digits) {
            if (leaders.size() < kMaxLeaders) leaders += static_cast<char>(c);
            else changed = true;
        } else if ((c >= '0' && c <= '9') && in_args) {
            Argument& a = args.back();
            a.had_digits = true;
            if (!(c == '0' && a.digits.empty())) a.digits += static_cast<char>(c);
            if (a.digits.size() > 4) changed = true;
        } else if ((c == ';' || c == ':') && in_args) {
            args.push_back(Argument{.separator = static_cast<char>(c)});
        } else if (is_intermediate(c)) {
            in_args = false;
            if (intermediates.size() < kMaxIntermediates) intermediates += static_cast<char>(c);
            else changed = true;
        } else {
            changed = true;  // a parameter byte after an intermediate, DEL, bytes from 0x80
        }
    }
    if (args.size() > kMaxCsiArguments) {
        args.resize(kMaxCsiArguments);
        changed = true;
    }
    // insert mode: SM without a leader, with argument 4 among its arguments
    if (final_byte == 'h' && leaders.empty() && intermediates.empty()) {
        auto irm = std::remove_if(args.begin(), args.end(), [](const Argument& a) { return a.digits == "4"; });
        if (irm != args.end()) {
            args.erase(irm, args.end());
            if (args.empty()) args.push_back(Argument{.digits = "", .had_digits = true});  // mode 0 does not exist
            args.front().separator = 0;
            changed = true;
        }
    }
    if (!changed && !always) return std::nullopt;
    out.sequence = "\x1b[" + leaders;
    for (const Argument& a : args) {
        if (a.separator) out.sequence += a.separator;
        out.sequence += bounded_digits(a);
    }
    out.sequence += intermediates;
    if (final_byte) out.sequence += final_byte;
    return out;
}

std::optional<GuardedSequence> guard_escape(std::string_view seq, bool always) {
    GuardedSequence out;
    std::string intermediates;
    bool changed = false;
    char final_byte = 0;
    for (size_t i = 1; i < seq.size(); ++i) {
        auto c = static_cast<unsigned char>(seq[i]);
        if (is_c0(c)) {
            out.controls += static_cast<char>(c);
            changed = true;
        } else if (is_intermediate(c)) {
            if (intermediates.size() < kMaxIntermediates) intermediates += static_cast<char>(c);
            else changed = true;
        } else if (c >= 0x30 && c <= 0x7E && i + 1 == seq.size()) {
            final_byte = static_cast<char>(c);
        } else {
            changed = true;
        }
    }
    // libvterm starts a CSI or a string at these finals even after intermediates (`ESC ! [`),
    // where a terminal ends the sequence: so they are replaced by ST, which does nothing then.
    // The same when bytes were dropped before it (`ESC \xcf\x80 [`): never a CSI or string start
    // that the scanner took for an ended sequence.
    if (final_byte && (!intermediates.empty() || changed) && std::string_view("[]PX^_").find(final_byte) != std::string_view::npos) {
        out.sequence = "\x1b\\";
        return out;
    }
    if (!changed && !always) return std::nullopt;
    out.sequence = "\x1b" + intermediates;
    if (final_byte) out.sequence += final_byte;
    return out;
}

std::optional<GuardedSequence> guard(std::string_view seq, bool always) {
    if (seq.size() < 2 || seq[0] != '\x1b') return std::nullopt;
    // C0 controls right after the ESC act at once and leave the sequence going on (`ESC ^D \`
    // is ST to libvterm, and then it miscounts the string it ends): take them out first.
    size_t kind = 1;
    while (kind < seq.size() && is_c0(static_cast<unsigned char>(seq[kind]))) ++kind;
    std::string leading(seq.substr(1, kind - 1));
    if (kind == seq.size()) {
        if (leading.empty()) return std::nullopt;
        return GuardedSequence{.controls = leading, .sequence = "\x1b"};
    }
    std::string rest = "\x1b" + std::string(seq.substr(kind));
    // A string (OSC, DCS; SOS, PM and APC are single controls to libvterm 0.1.4) passes as it is:
    // its bytes are no sequence's, and cut down to its ESC it would leave libvterm expecting one,
    // so that the text after it became a CSI (`ESC _ BEL [ b`: REP past the guard; fuzzing found it).
    // Bytes from 0x80 before the kind (dropped by libvterm in its ESC state) do not change it, nor
    // do C0 controls among them (executed where they stand: `ESC U+FFFD NUL _ ... BEL` is an APC).
    size_t kind_at = 1;
    std::string passed;
    for (; kind_at < rest.size(); ++kind_at) {
        auto c = static_cast<unsigned char>(rest[kind_at]);
        if (c >= 0x80) continue;
        if (!is_c0(c)) break;
        passed += static_cast<char>(c);
    }
    if (kind_at < rest.size() && std::string_view("]PX^_").find(rest[kind_at]) != std::string_view::npos) {
        if (leading.empty() && passed.empty()) return std::nullopt;
        return GuardedSequence{.controls = leading + passed, .sequence = "\x1b" + rest.substr(kind_at)};
    }
    bool force = always || !leading.empty();
    std::optional<GuardedSequence> g;
    if (rest[1] == '[') g = guard_csi(rest, force);
    else g = guard_escape(rest, force);
    if (g) g->controls.insert(0, leading);
    return g;
}

}  // namespace

std::optional<GuardedSequence> guard_sequence(std::string_view seq) {
    auto g = guard(seq, false);
    // An ended sequence never leaves libvterm in its ESC state, whatever was dropped from it: the
    // bytes after it would continue it (a bare ESC, then `# [ b`, was REP past the guard).
    if (g && g->sequence == "\x1b" && seq.size() > 1) g->sequence = "\x1b\\";
    return g;
}

std::optional<int> repeat_count(std::string_view seq) {
    if (seq.size() < 3 || seq[0] != '\x1b' || seq[1] != '[' || seq.back() != 'b') return std::nullopt;
    int count = 0;
    for (char c : seq.substr(2, seq.size() - 3)) {
        if (c == ';' || c == ':') break;  // REP has one argument; libvterm reads only the first
        if (c < '0' || c > '9') return std::nullopt;  // a leader or intermediate: not REP
        count = std::min(kMaxArgumentValue, count * 10 + (c - '0'));
    }
    return std::max(count, 1);
}

std::optional<GuardedSequence> bounded_form(std::string_view seq) { return guard(seq, true); }

}  // namespace execaudit::replay
