#include "export/asciicast_format.h"

#include "common/json_output.h"
#include "common/text.h"
#include "common/utf8.h"
#include "export/host_control_filter.h"
#include "storage/io_frames.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace execaudit::exporting {
namespace {

void event(std::ostream& out, uint64_t offset_us, const char* code, const std::string& data) {
    // Seconds with microseconds, as a JSON number; data is valid UTF-8 already.
    out << fmt::format("[{}.{:06}, \"{}\", ", offset_us / 1'000'000, offset_us % 1'000'000, code)
        << dump_json_safe(nlohmann::json(data)) << "]\n";
}

}  // namespace

std::expected<void, std::string> write_asciicast(storage::SessionReader& store, const storage::SessionRecord& s,
                                                 std::ostream& out, const AsciicastOptions& options) {
    // The geometry play starts with (replay::Recording::initial_rows): the session's, else its
    // first resize (the client sized the tty after the shell started), else 80x24.
    uint32_t width = s.cols, height = s.rows;
    if (!width || !height) {
        width = 80, height = 24;
        bool found = false;
        auto scanned = store.for_each_chunk(s.id, [&](const storage::ChunkRecord& chunk) {
            if (found) return;
            (void)storage::decode_chunk(chunk.frames_data, chunk.first_offset_us, [&](const storage::Frame& f) {
                if (found || f.kind != storage::FrameKind::resize) return;
                width = f.cols, height = f.rows, found = true;
            });
        });
        (void)scanned;  // a damaged chunk: the frames below report it
    }
    nlohmann::json header = {{"version", 2},
                             {"width", width},
                             {"height", height},
                             {"timestamp", s.start_ns / 1'000'000'000}};
    if (s.end_ns) header["duration"] = static_cast<double>(*s.end_ns - s.start_ns) / 1e9;
    std::string who = s.user ? utf8_lossy(*s.user) : "(" + s.attribution + ")";
    header["title"] = fmt::format("execaudit session {}: {} in {}/{} container {}", s.id, who, utf8_lossy(s.namespace_name),
                                  utf8_lossy(s.pod), utf8_lossy(s.container));
    // which workload and cluster, when known (docs/pods.md)
    std::string where;
    if (s.pod_meta && !s.pod_meta->workload_kind.empty() && s.pod_meta->workload_kind != "Pod")
        where = utf8_lossy(s.pod_meta->workload_kind) + "/" + utf8_lossy(s.pod_meta->workload_name);
    if (s.cluster) where += (where.empty() ? "cluster " : ", cluster ") + utf8_lossy(*s.cluster);
    if (!where.empty()) header["title"] = header["title"].get<std::string>() + " (" + where + ")";
    header["env"] = {{"TERM", "xterm-256color"}, {"SHELL", s.command.empty() ? "" : utf8_lossy(s.command.front())}};
    out << dump_json_safe(header) << '\n';

    utf8::Stream output, input;
    HostControlFilter filter;
    auto safe = [&](std::string text) { return options.raw ? text : filter.feed(text); };
    uint64_t last_offset = 0;
    std::string frame_error;
    auto chunks = store.for_each_chunk(s.id, [&](const storage::ChunkRecord& chunk) {
        if (!frame_error.empty()) return;
        auto decoded = storage::decode_chunk(chunk.frames_data, chunk.first_offset_us, [&](const storage::Frame& f) {
            // asciinema expects time never to go backwards; chunks are in order, keep it so.
            last_offset = std::max(last_offset, f.offset_us);
            switch (f.kind) {
                case storage::FrameKind::output: {
                    std::string text = safe(output.feed(f.data));
                    if (!text.empty()) event(out, last_offset, "o", text);
                    break;
                }
                case storage::FrameKind::input:
                    if (options.with_input) {
                        std::string text = input.feed(f.data);
                        if (!text.empty()) event(out, last_offset, "i", text);
                    }
                    break;
                case storage::FrameKind::input_echo_off:
                    // Typed while the terminal did not echo (a password prompt): never exported.
                    if (options.with_input) event(out, last_offset, "i", std::string(f.data.size(), '*'));
                    break;
                case storage::FrameKind::resize:
                    event(out, last_offset, "r", fmt::format("{}x{}", f.cols, f.rows));
                    break;
                case storage::FrameKind::gap:
                    if (f.recorder_gap) {
                        event(out, last_offset, "m",
                              fmt::format("gap: the recorder was not following this session for {:.1f} s from here (it "
                                          "was killed, or the session is older than it)",
                                          static_cast<double>(f.recorder_gap_until_us - f.offset_us) / 1e6));
                        break;
                    }
                    event(out, last_offset, "m",
                          fmt::format("gap: the kernel lost {} records ({} terminal bytes) here", f.lost_events,
                                      f.lost_bytes));
                    break;
            }
        });
        if (!decoded) frame_error = fmt::format("chunk {}: {}", chunk.seq, decoded.error());
    });
    std::string rest = safe(output.finish());
    if (!options.raw) rest += filter.finish();
    if (!rest.empty()) event(out, last_offset, "o", rest);
    if (!chunks) return std::unexpected(chunks.error());
    if (!frame_error.empty()) return std::unexpected(frame_error);
    return {};
}

}  // namespace execaudit::exporting
