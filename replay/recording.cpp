#include "replay/recording.h"

#include "replay/clock_text.h"
#include "common/text.h"

#include <fmt/format.h>

#include <algorithm>

namespace execaudit::replay {

uint64_t command_offset_us(const storage::SessionRecord& session, const storage::CommandRecord& command) {
    // Frames are timed on the boot clock from the session's start; commands carry the same clock.
    if (command.boot_ns && session.start_boot_ns)
        return command.boot_ns > session.start_boot_ns ? (command.boot_ns - session.start_boot_ns) / 1000 : 0;
    return command.time_ns > session.start_ns ? static_cast<uint64_t>(command.time_ns - session.start_ns) / 1000 : 0;
}

Recording::Recording(storage::SessionRecord session) : session_(std::move(session)) {}

namespace {

// Stored chunks kept decoded in memory: playing reads them in order, a seek reads one or two, and
// a damaged (or hostile) database can make one as large as the decompressor allows (64 MiB).
constexpr size_t kCacheChunks = 4;
constexpr size_t kCacheBytes = 8u << 20;
// Command texts read back for the timeline: a screenful is a few dozen.
constexpr size_t kCachedCommandTexts = 512;

}  // namespace

std::expected<Recording, std::string> Recording::load(storage::SessionReader& store, const storage::SessionRecord& session,
                                                      bool with_commands) {
    Recording rec(session);
    rec.store_ = &store;
    if (with_commands) {
        // each command's place and result; its text is read again when it is shown. Reserved
        // as the session counts them (memory not touched is not resident: a false count costs little)
        rec.commands_.reserve(std::min<uint32_t>(session.commands, 1u << 22));
        store.for_each_command(session.id, [&](storage::CommandRecord&& c) {
            TimedCommand t{.offset_us = command_offset_us(session, c), .text_at = TimedCommand::kInStore, .seq = c.seq,
                           .retval = c.retval, .argv_truncated = c.argv_truncated};
            (void)timeline_argv_text(c.argv, t.argv_truncated);
            rec.insert_command(t);
        });
    }
    auto read = store.for_each_chunk(session.id, [&](const storage::ChunkRecord& chunk) {
        std::string error;
        auto stored = static_cast<uint32_t>(rec.chunk_seqs_.size());
        if (rec.decode(chunk, stored, error)) rec.chunk_seqs_.push_back(chunk.seq);
        else rec.add_gap(Gap{chunk.first_offset_us, 0, 0, "chunk " + std::to_string(chunk.seq) + ": " + error});
    });
    if (!read) {
        // The rest of the stream cannot be read: say so where it stops, and play what came before.
        rec.add_gap(Gap{rec.last_us_, 0, 0, read.error()});
    }
    return rec;
}

bool Recording::add_chunk(const storage::ChunkRecord& chunk, std::string& error) { return decode(chunk, PlayFrame::kInMemory, error); }

bool Recording::decode(const storage::ChunkRecord& chunk, uint32_t stored, std::string& error) {
    // Decode it whole first, so a chunk damaged halfway adds nothing. Times are put on the axis
    // as they will be (never backwards), so a gap keeps its place among the chunk's frames.
    std::vector<PlayFrame> frames;
    std::vector<Gap> gaps;
    uint64_t t = last_us_;
    auto decoded = storage::decode_chunk(chunk.frames_data, chunk.first_offset_us, [&](const storage::Frame& f) {
        switch (f.kind) {
            case storage::FrameKind::output:
                if (f.data.empty()) break;
                t = std::max(t, f.offset_us);
                frames.push_back(PlayFrame{t, storage::FrameKind::output, stored, static_cast<uint64_t>(f.data.data() - chunk.frames_data.data()),
                                           static_cast<uint32_t>(f.data.size()), 0, 0});
                break;
            case storage::FrameKind::resize:
                t = std::max(t, f.offset_us);
                frames.push_back(PlayFrame{t, storage::FrameKind::resize, PlayFrame::kInMemory, 0, 0, f.rows, f.cols});
                break;
            case storage::FrameKind::gap:
                t = std::max(t, f.offset_us);
                gaps.push_back(Gap{t, f.lost_events, f.lost_bytes, {}, f.gap_cause, f.recorder_gap, std::max(t, f.recorder_gap_until_us)});
                break;
            default: break;  // input: never drawn
        }
    });
    if (!decoded) {
        error = decoded.error();
        return false;
    }
    size_t g = 0;
    for (const auto& f : frames) {
        for (; g < gaps.size() && gaps[g].offset_us <= f.offset_us; ++g) add_gap(std::move(gaps[g]));
        if (f.kind == storage::FrameKind::resize) add_resize(f.offset_us, f.rows, f.cols);
        else if (stored == PlayFrame::kInMemory) add_output(f.offset_us, std::string_view(chunk.frames_data).substr(f.data_pos, f.data_len));
        else add_stored_output(f.offset_us, stored, f.data_pos, f.data_len);
    }
    for (; g < gaps.size(); ++g) add_gap(std::move(gaps[g]));
    return true;
}

void Recording::add_output(uint64_t offset_us, std::string_view bytes) {
    if (bytes.empty()) return;
    last_us_ = std::max(last_us_, offset_us);  // time never goes backwards on the axis
    frames_.push_back(PlayFrame{last_us_, storage::FrameKind::output, PlayFrame::kInMemory, output_.size(),
                                static_cast<uint32_t>(bytes.size()), 0, 0});
    output_.append(bytes);
    output_bytes_ += bytes.size();
}

void Recording::add_stored_output(uint64_t offset_us, uint32_t chunk, uint64_t pos, uint32_t len) {
    last_us_ = std::max(last_us_, offset_us);
    frames_.push_back(PlayFrame{last_us_, storage::FrameKind::output, chunk, pos, len, 0, 0});
    output_bytes_ += len;
}

std::string_view Recording::data(const PlayFrame& f) const {
    if (f.chunk == PlayFrame::kInMemory) return std::string_view(output_).substr(std::min<uint64_t>(f.data_pos, output_.size()), f.data_len);
    if (!store_ || f.chunk >= chunk_seqs_.size()) return {};
    auto it = std::find_if(cache_.rbegin(), cache_.rend(), [&](const CachedChunk& c) { return c.chunk == f.chunk; });
    if (it == cache_.rend()) {
        size_t held = 0;
        for (const auto& c : cache_) held += c.frames_data.size();
        while (!cache_.empty() && (cache_.size() >= kCacheChunks || held > kCacheBytes)) {
            held -= cache_.front().frames_data.size();
            cache_.erase(cache_.begin());
        }
        auto read = store_->chunk(session_.id, chunk_seqs_[f.chunk]);
        // unreadable now (it was read when the index was built): its frames play as nothing
        cache_.push_back(CachedChunk{f.chunk, read ? std::move(read->frames_data) : std::string()});
    } else if (it != cache_.rbegin()) {
        std::rotate(it.base() - 1, it.base(), cache_.end());  // most recently used last
    }
    std::string_view bytes = cache_.back().frames_data;
    if (f.data_pos > bytes.size()) return {};
    return bytes.substr(f.data_pos, f.data_len);
}

size_t Recording::cached_bytes() const {
    size_t n = 0;
    for (const auto& c : cache_) n += c.frames_data.size();
    return n;
}

void Recording::add_resize(uint64_t offset_us, uint32_t rows, uint32_t cols) {
    last_us_ = std::max(last_us_, offset_us);
    frames_.push_back(PlayFrame{last_us_, storage::FrameKind::resize, PlayFrame::kInMemory, 0, 0, rows, cols});
}

void Recording::add_gap(Gap gap) {
    last_us_ = std::max(last_us_, gap.offset_us);
    gap.offset_us = last_us_;
    gaps_.push_back(std::move(gap));
}

std::string timeline_argv_text(const std::vector<std::string>& argv, bool& truncated) {
    constexpr size_t kMax = TimedCommand::kMaxArgvText;
    std::vector<std::string> shown;
    size_t bytes = 0;
    for (const auto& a : argv) {
        if (bytes > kMax) break;  // the rest could not be shown
        shown.push_back(utf8_lossy(std::string_view(a).substr(0, kMax + 1)));
        bytes += shown.back().size() + 1;
    }
    std::string text = terminal_safe(join_argv(shown));
    if (text.size() > kMax || shown.size() < argv.size()) {
        size_t cut = std::min(text.size(), kMax);
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // a whole character
        text.resize(cut);
        truncated = true;
    }
    return text;
}

void Recording::add_command(uint64_t offset_us, const storage::CommandRecord& command) {
    TimedCommand c{.offset_us = offset_us, .seq = command.seq, .retval = command.retval, .argv_truncated = command.argv_truncated};
    std::string text = timeline_argv_text(command.argv, c.argv_truncated);
    c.text_at = command_text_.size();
    c.text_size = static_cast<uint32_t>(text.size());
    command_text_ += text;
    insert_command(c);
}

void Recording::insert_command(const TimedCommand& c) {
    // in time order; a command stored out of order (its exec record late) goes where it ran
    auto at = std::upper_bound(commands_.begin(), commands_.end(), c.offset_us,
                               [](uint64_t t, const TimedCommand& x) { return t < x.offset_us; });
    commands_.insert(at, c);
}

std::string Recording::argv_text(const TimedCommand& c) const {
    if (c.text_at != TimedCommand::kInStore) return command_text_.substr(c.text_at, c.text_size);
    if (auto it = text_cache_.find(c.seq); it != text_cache_.end()) return it->second;
    if (!store_) return {};
    // gone since the recording was loaded (deleted or tampered with while it plays): said, never blank
    std::string text = "(this command is no longer in the database)";
    if (auto command = store_->command(session_.id, c.seq)) {
        bool truncated = false;
        text = timeline_argv_text(command->argv, truncated);
    }
    if (text_cache_.size() >= kCachedCommandTexts) text_cache_.clear();  // a screenful is far fewer
    text_cache_.emplace(c.seq, text);
    return text;
}

int Recording::initial_rows() const {
    if (session_.rows) return static_cast<int>(session_.rows);
    for (const auto& f : frames_)
        if (f.kind == storage::FrameKind::resize) return static_cast<int>(f.rows);
    return 24;
}

int Recording::initial_cols() const {
    if (session_.cols) return static_cast<int>(session_.cols);
    for (const auto& f : frames_)
        if (f.kind == storage::FrameKind::resize) return static_cast<int>(f.cols);
    return 80;
}

uint64_t Recording::duration_us() const {
    uint64_t d = last_us_;
    if (!commands_.empty()) d = std::max(d, commands_.back().offset_us);
    if (session_.end_ns && *session_.end_ns > session_.start_ns)
        d = std::max(d, static_cast<uint64_t>(*session_.end_ns - session_.start_ns) / 1000);
    return d;
}

std::string describe_recorder_gap(const Gap& gap) {
    return fmt::format("the recorder was not following this session between +{} and +{} (it was killed, or the session "
                       "is older than it): what happened then is not recorded",
                       format_clock(gap.offset_us), format_clock(gap.recorder_gap_until_us));
}

}  // namespace execaudit::replay
