#pragma once
// The read side: sessions with filters, one session by id or unique prefix, its commands and
// its terminal chunks. Used by the CLI and replay.

#include "storage/database.h"
#include "storage/records.h"

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::storage {

struct SessionFilter {
    std::optional<int64_t> since_ns;  ///< sessions still running at or after this time
    std::optional<int64_t> until_ns;  ///< sessions started before this time
    std::optional<std::string> user;
    std::optional<std::string> namespace_name;
    std::optional<std::string> pod;
    std::optional<std::string> container;
    std::optional<std::string> command;  ///< substring of any command the session ran
    bool unattributed_only = false;
    std::optional<std::string> session_id;  ///< exactly this session (does it match the other filters?)
    std::optional<size_t> limit;
};

class SessionStore {
public:
    explicit SessionStore(Database& db) : db_(db) {}

    /// Newest first.
    std::vector<SessionRecord> list(const SessionFilter& filter);

    /// An exact id or a unique prefix of at least 4 characters. The error says why not.
    std::expected<SessionRecord, std::string> find(const std::string& id_or_prefix);

    std::vector<CommandRecord> commands(const std::string& session_id);
    /// One command of a session by its seq; nullopt when there is none.
    std::optional<CommandRecord> command(const std::string& session_id, uint32_t seq);

    /// Calls `on_chunk` with each chunk in order, decompressed. A damaged chunk is reported
    /// through the returned error after the chunks before it were delivered.
    std::expected<void, std::string> for_each_chunk(const std::string& session_id,
                                                    const std::function<void(const ChunkRecord&)>& on_chunk);
    /// One chunk by its seq, decompressed (replay reads the chunks it plays, one at a time).
    std::expected<ChunkRecord, std::string> chunk(const std::string& session_id, uint32_t seq);

private:
    Database& db_;
};

}  // namespace execaudit::storage
