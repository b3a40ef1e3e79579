#pragma once
// The PostgreSQL backend of the read interface (storage/readers.h): what `sessions`, `show`,
// `play`, `audit-events` and `export` read with `--db postgresql://...`. Rows read back exactly as
// the node stored them, so every command prints the same as on the node's SQLite.

#include "storage/postgres/pg_connection.h"
#include "storage/readers.h"

namespace execaudit::storage::pg {

class PgSessionStore final : public SessionReader {
public:
    explicit PgSessionStore(Connection& c) : c_(c) {}
    std::vector<SessionRecord> list(const SessionFilter& filter) override;
    std::expected<SessionRecord, std::string> find(const std::string& id_or_prefix) override;
    std::vector<CommandRecord> commands(const std::string& session_id) override;
    std::optional<CommandRecord> command(const std::string& session_id, uint32_t seq) override;
    void for_each_command(const std::string& session_id, const std::function<void(CommandRecord&&)>& on_command) override;
    std::expected<void, std::string> for_each_chunk(const std::string& session_id,
                                                    const std::function<void(const ChunkRecord&)>& on_chunk) override;
    std::expected<ChunkRecord, std::string> chunk(const std::string& session_id, uint32_t seq) override;

private:
    Connection& c_;
};

class PgRequestStore final : public RequestReader {
public:
    explicit PgRequestStore(Connection& c) : c_(c) {}
    std::vector<ExecRequestRecord> list(const RequestFilter& filter) override;
    std::vector<ExecRequestRecord> requests_of_session(const std::string& session_id) override;
    using RequestReader::requests_of_session;

private:
    Connection& c_;
};

/// The export order: rows the exporting replica gave a position (commit order), and only those.
class PgOutbox final : public OutboxReader {
public:
    explicit PgOutbox(Connection& c) : c_(c) {}
    std::vector<OutboxEntry> after(int64_t position, size_t limit,
                                   const std::optional<std::string>& session_id = std::nullopt) override;
    int64_t count_after(int64_t position) override;
    int64_t last_position() override;

private:
    Connection& c_;
};

}  // namespace execaudit::storage::pg
