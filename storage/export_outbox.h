#pragma once
// The export outbox (schema v2): one row per exportable record, written by triggers in the same
// transaction as the data it points to. Positions grow in commit order, so "every row after my
// cursor" is a complete, stable list for any exporter; rows carry no data, only what to read.

#include "storage/database.h"
#include "storage/readers.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::storage {

/// The stable id of the record an entry stands for: "<session>:start", "<session>:command:<seq>",
/// "<session>:end", "<session>:attributed:<n>". The same record always gets the same id.
std::string record_id(const OutboxEntry& entry);

/// The SQLite backend of OutboxReader.
class ExportOutbox final : public OutboxReader {
public:
    explicit ExportOutbox(Database& db);

    /// Entries after `position`, oldest first, at most `limit`. With `session_id`, only that session's.
    std::vector<OutboxEntry> after(int64_t position, size_t limit,
                                   const std::optional<std::string>& session_id = std::nullopt) override;
    /// How many entries lie after `position`: an exporter's backlog.
    int64_t count_after(int64_t position) override;
    /// The newest position (0 when empty).
    int64_t last_position() override;

private:
    Statement after_;
    Statement after_session_;
    Statement count_after_;
    Statement last_;
};

}  // namespace execaudit::storage
