#pragma once
// The export outbox (schema v2): one row per exportable record, written by triggers in the same
// transaction as the data it points to. Positions grow in commit order, so "every row after my
// cursor" is a complete, stable list for any exporter; rows carry no data, only what to read.

#include "storage/database.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::storage {

/// What an outbox row points to. Values are stored: append only.
enum class OutboxKind : int { session_start = 1, command = 2, session_end = 3, session_attributed = 4 };

struct OutboxEntry {
    int64_t position = 0;
    std::string session_id;
    OutboxKind kind = OutboxKind::session_start;
    uint32_t seq = 0;       ///< command: its seq in the session; session_attributed: 0, 1, ...
    int64_t noted_ns = 0;   ///< wall clock when the row was written (for session_attributed: when decided)
};

/// The stable id of the record an entry stands for: "<session>:start", "<session>:command:<seq>",
/// "<session>:end", "<session>:attributed:<n>". The same record always gets the same id.
std::string record_id(const OutboxEntry& entry);

class ExportOutbox {
public:
    explicit ExportOutbox(Database& db);

    /// Entries after `position`, oldest first, at most `limit`. With `session_id`, only that session's.
    std::vector<OutboxEntry> after(int64_t position, size_t limit,
                                   const std::optional<std::string>& session_id = std::nullopt);
    /// How many entries lie after `position`: an exporter's backlog.
    int64_t count_after(int64_t position);
    /// The newest position (0 when empty).
    int64_t last_position();

private:
    Statement after_;
    Statement after_session_;
    Statement count_after_;
    Statement last_;
};

}  // namespace execaudit::storage
