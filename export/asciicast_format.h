#pragma once
// asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/) of one session, playable by
// `asciinema play`: a header line, then one [seconds, code, data] line per frame:
//   "o" output (valid UTF-8: split characters joined, invalid bytes as U+FFFD),
//   "i" input (only with with_input; input read with echo off, e.g. a password, is masked),
//   "r" resize ("COLSxROWS"), "m" a marker where the kernel lost records (a gap).
// Frames are decoded exactly as replay decodes them (storage/io_frames.h). Output passes through
// HostControlFilter (what would act on the terminal playing it, or make it answer, is removed)
// unless `raw`.

#include "storage/session_store.h"

#include <expected>
#include <ostream>
#include <string>

namespace execaudit::exporting {

struct AsciicastOptions {
    bool with_input = false;
    bool raw = false;  ///< every recorded byte, sequences that act on the player's terminal included
};

/// Writes the session's asciicast to `out`. An error when a chunk is damaged (what came before
/// it was written).
std::expected<void, std::string> write_asciicast(storage::SessionReader& store, const storage::SessionRecord& session,
                                                 std::ostream& out, const AsciicastOptions& options);

}  // namespace execaudit::exporting
