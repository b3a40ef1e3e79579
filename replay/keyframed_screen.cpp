#include "replay/keyframed_screen.h"

#include "replay/play_frames.h"

#include <zstd.h>

#include <algorithm>
#include <stdexcept>

namespace execaudit::replay {

// Screens are mostly blanks with one pen: level 1 shrinks them 20-50x in well under a millisecond.
struct KeyframedScreen::Codec {
    struct CDeleter {
        void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
    };
    struct DDeleter {
        void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
    };
    std::unique_ptr<ZSTD_CCtx, CDeleter> cctx{ZSTD_createCCtx()};
    std::unique_ptr<ZSTD_DCtx, DDeleter> dctx{ZSTD_createDCtx()};
    std::string buffer;

    std::string compress(std::string_view raw) {
        buffer.resize(ZSTD_compressBound(raw.size()));
        size_t n = ZSTD_compressCCtx(cctx.get(), buffer.data(), buffer.size(), raw.data(), raw.size(), 1);
        if (ZSTD_isError(n)) throw std::runtime_error(std::string("keyframe: ") + ZSTD_getErrorName(n));
        return std::string(buffer.data(), n);  // exactly sized: keyframes are many
    }
    void decompress(std::string_view compressed, size_t raw_size, std::string& out) {
        out.resize(raw_size);
        size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), compressed.data(), compressed.size());
        if (ZSTD_isError(n) || n != raw_size) throw std::runtime_error("keyframe: corrupted in memory");
    }
};

KeyframedScreen::KeyframedScreen(const Recording& recording, Options options)
    : recording_(recording),
      frames_(recording.frames()),
      options_(options),
      screen_(std::make_unique<TerminalScreen>(recording.initial_rows(), recording.initial_cols())),
      codec_(std::make_unique<Codec>()) {
    // A keyframe at least every bytes/max and frames/max: each spacing gives at most `max` of
    // them (plus the one at frame 0), so together at most twice that.
    size_t most = std::max<size_t>(options_.max_keyframes, 1);
    auto per = [most](uint64_t total) { return static_cast<size_t>((total + most - 1) / most); };
    options_.keyframe_bytes = std::max<size_t>({options_.keyframe_bytes, 1, per(recording.output_bytes())});
    options_.keyframe_frames = std::max<size_t>({options_.keyframe_frames, 1, per(frames_.size())});
    add_keyframe();  // frame 0: the fresh emulator
}

KeyframedScreen::~KeyframedScreen() = default;

void KeyframedScreen::apply(size_t from, size_t to) {
    play_frames(*screen_, recording_, from, to);
    applied_ = to;
    if (from != to) ++generation_;
}

void KeyframedScreen::add_keyframe() {
    screen_->snapshot_into(scratch_);
    Keyframe k;
    k.frame = applied_;
    k.raw_size = scratch_.image.size();
    k.compressed = codec_->compress(scratch_.image);
    k.rows = scratch_.rows;
    k.cols = scratch_.cols;
    k.cursor_visible = scratch_.cursor_visible;
    k.scan = scratch_.scan;
    k.pending = scratch_.pending;
    k.last_glyph = scratch_.last_glyph;
    k.text_pending = scratch_.text_pending;
    keyframes_.push_back(std::move(k));
    indexed_to_ = applied_;
}

void KeyframedScreen::restore(const Keyframe& k) {
    codec_->decompress(k.compressed, k.raw_size, scratch_.image);
    scratch_.rows = k.rows;
    scratch_.cols = k.cols;
    scratch_.cursor_visible = k.cursor_visible;
    scratch_.scan = k.scan;
    scratch_.pending = k.pending;
    scratch_.last_glyph = k.last_glyph;  // REP after a seek repeats what it repeated in order
    scratch_.text_pending = k.text_pending;
    scratch_.owner = screen_.get();
    if (!screen_->restore(scratch_)) throw std::logic_error("keyframe from another screen");
    applied_ = k.frame;
    ++generation_;
}

size_t KeyframedScreen::next_keyframe_point() const {
    size_t from = keyframes_.back().frame, bytes = 0, end = from;
    // The rule depends only on the frames, so the index is the same however it was built.
    while (end < frames_.size() && (end == from || (bytes < options_.keyframe_bytes && end - from < options_.keyframe_frames))) {
        bytes += frames_[end].data_len;
        ++end;
    }
    return end;
}

void KeyframedScreen::index_next() { index_to(next_keyframe_point()); }

void KeyframedScreen::index_to(size_t end) {
    const Keyframe& last = keyframes_.back();
    if (applied_ < last.frame || applied_ > end) restore(last);
    apply(applied_, end);
    if (end < frames_.size()) add_keyframe();
    else indexed_to_ = end;
}

void KeyframedScreen::go_to(size_t target) {
    target = std::min(target, frames_.size());
    if (target == applied_) return;
    // Index up to the target, never past it: the frames after it would be played for nothing.
    while (indexed_to_ < target && !indexed()) {
        size_t next = next_keyframe_point();
        if (next > target) break;
        index_to(next);
    }
    // The last keyframe at or before the target; playing on from where the screen is costs less
    // when it is already past that keyframe.
    auto it = std::upper_bound(keyframes_.begin(), keyframes_.end(), target,
                               [](size_t t, const Keyframe& k) { return t < k.frame; });
    const Keyframe& k = *(it - 1);
    if (applied_ < k.frame || applied_ > target) restore(k);
    apply(applied_, target);
}

bool KeyframedScreen::index_some(std::chrono::microseconds budget) {
    if (indexed()) return true;
    auto deadline = std::chrono::steady_clock::now() + budget;
    // Keep the screen as it is: save it whole, index from the last keyframe, put it back.
    size_t was_applied = applied_;
    uint64_t was_generation = generation_;
    screen_->snapshot_into(view_);
    do {
        index_next();
    } while (!indexed() && std::chrono::steady_clock::now() < deadline);
    if (!screen_->restore(view_)) throw std::logic_error("lost the view while indexing");
    applied_ = was_applied;
    generation_ = was_generation;
    return indexed();
}

size_t KeyframedScreen::keyframe_memory() const {
    size_t n = 0;
    for (const auto& k : keyframes_) n += k.compressed.size();
    return n;
}

}  // namespace execaudit::replay
