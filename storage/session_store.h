#pragma once
// The read side: sessions with filters, one session by id or unique prefix, its commands and
// its terminal chunks. Used by the CLI and replay.

#include "storage/database.h"
#include "storage/readers.h"

#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::storage {

/// A stored chunk's frames, decompressed (either backend). The error names the chunk.
std::expected<ChunkRecord, std::string> decode_stored_chunk(StoredChunkRecord stored);

/// The SQLite backend of SessionReader.
class SessionStore final : public SessionReader {
public:
    explicit SessionStore(Database& db) : db_(db) {}

    /// Newest first.
    std::vector<SessionRecord> list(const SessionFilter& filter) override;

    /// An exact id or a unique prefix of at least 4 characters. The error says why not.
    std::expected<SessionRecord, std::string> find(const std::string& id_or_prefix) override;

    std::vector<CommandRecord> commands(const std::string& session_id) override;
    /// One command of a session by its seq; nullopt when there is none.
    std::optional<CommandRecord> command(const std::string& session_id, uint32_t seq) override;

    /// Calls `on_chunk` with each chunk in order, decompressed. A damaged chunk is reported
    /// through the returned error after the chunks before it were delivered.
    void for_each_command(const std::string& session_id, const std::function<void(CommandRecord&&)>& on_command) override;
    std::expected<void, std::string> for_each_chunk(const std::string& session_id,
                                                    const std::function<void(const ChunkRecord&)>& on_chunk) override;
    /// One chunk by its seq, decompressed (replay reads the chunks it plays, one at a time).
    std::expected<ChunkRecord, std::string> chunk(const std::string& session_id, uint32_t seq) override;

    /// SQLite only (the node's spool): one chunk as stored, not decompressed (upload).
    std::optional<StoredChunkRecord> stored_chunk(const std::string& session_id, uint32_t seq);

private:
    Database& db_;
};

}  // namespace execaudit::storage
