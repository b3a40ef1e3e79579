#include "replay/output_search.h"

#include <algorithm>

namespace execaudit::replay {
namespace {

// Enough of ECMA-48 to drop what is not text: CSI, OSC/DCS/APC/PM/SOS strings, two- and
// three-byte escapes. State carries across frames, as the terminal's did.
class TextFilter {
public:
    void feed(std::string_view bytes, std::string& out) {
        for (char ch : bytes) {
            auto c = static_cast<unsigned char>(ch);
            switch (state_) {
                case State::ground:
                    if (c == 0x1B) state_ = State::escape;
                    else if (c == '\n') out += '\n';
                    else if (c == '\t') out += ' ';
                    else if (c >= 0x20 && c != 0x7F) out += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
                    break;
                case State::escape:
                    if (c == '[') state_ = State::csi, length_ = 0;
                    else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') state_ = State::string, length_ = 0;
                    else if (c >= 0x20 && c <= 0x2F) state_ = State::intermediate;
                    else state_ = State::ground;
                    break;
                case State::intermediate:
                    if (c < 0x20 || c > 0x2F) state_ = State::ground;
                    break;
                case State::csi:
                    // a final byte ends it; a runaway sequence (hostile or broken) gives up
                    if ((c >= 0x40 && c <= 0x7E) || ++length_ > 256) state_ = State::ground;
                    else if (c == 0x1B) state_ = State::escape;
                    break;
                case State::string:
                    if (c == 0x07) state_ = State::ground;
                    else if (c == 0x1B) state_ = State::string_escape;
                    else if (++length_ > 65536) state_ = State::ground;
                    break;
                case State::string_escape:
                    state_ = c == '\\' ? State::ground : State::string;
                    break;
            }
        }
    }

private:
    enum class State { ground, escape, intermediate, csi, string, string_escape };
    State state_ = State::ground;
    size_t length_ = 0;
};

}  // namespace

std::string OutputSearch::fold(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
}

OutputSearch::OutputSearch(const Recording& recording) {
    TextFilter filter;
    for (const auto& f : recording.frames()) {
        if (f.kind != storage::FrameKind::output) continue;
        size_t before = text_.size();
        filter.feed(recording.data(f), text_);
        if (text_.size() == before) continue;
        frame_time_.push_back(f.offset_us);
        text_end_.push_back(text_.size());
    }
}

size_t OutputSearch::text_pos_at(uint64_t offset_us) const {
    auto it = std::upper_bound(frame_time_.begin(), frame_time_.end(), offset_us);
    if (it == frame_time_.begin()) return 0;
    return text_end_[static_cast<size_t>(it - frame_time_.begin()) - 1];
}

uint64_t OutputSearch::time_of(size_t text_pos) const {
    auto it = std::upper_bound(text_end_.begin(), text_end_.end(), text_pos);
    if (it == text_end_.end()) return frame_time_.empty() ? 0 : frame_time_.back();
    return frame_time_[static_cast<size_t>(it - text_end_.begin())];
}

std::optional<size_t> OutputSearch::find_forward(std::string_view needle, size_t from) const {
    if (needle.empty() || from >= text_.size()) return std::nullopt;
    size_t at = std::string_view(text_).find(needle, from);
    if (at == std::string_view::npos) return std::nullopt;
    return at;
}

std::optional<size_t> OutputSearch::find_backward(std::string_view needle, size_t before) const {
    if (needle.empty() || before == 0) return std::nullopt;
    size_t at = std::string_view(text_).rfind(needle, before - 1);
    if (at == std::string_view::npos) return std::nullopt;
    return at;
}

size_t OutputSearch::count(std::string_view needle, size_t before, size_t cap) const {
    size_t n = 0;
    for (size_t at = 0; n < cap; ++at) {
        auto hit = find_forward(needle, at);
        if (!hit || *hit >= before) break;
        ++n;
        at = *hit;
    }
    return n;
}

}  // namespace execaudit::replay
