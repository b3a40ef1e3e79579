#pragma once
// The one read interface over both stores: a node's SQLite (storage/session_store.h, ...) and the
// cluster's PostgreSQL (storage/postgres/). The CLI, replay and export read through these and
// never see SQL; storage/read_store.h opens the right backend for a `--db` value.

#include "storage/records.h"

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <string>
#include <utility>
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
    /// The pod carried this label (key, value) when the session started.
    std::optional<std::pair<std::string, std::string>> label;
    std::optional<std::string> workload_name;  ///< ... stood for this workload (any kind, or:)
    std::optional<std::string> workload_kind;
    std::optional<std::string> session_id;  ///< exactly this session (does it match the other filters?)
    std::optional<size_t> limit;
};

/// Sessions, their commands and their terminal chunks.
class SessionReader {
public:
    virtual ~SessionReader() = default;

    /// Newest first.
    virtual std::vector<SessionRecord> list(const SessionFilter& filter) = 0;
    /// An exact id or a unique prefix of at least 4 characters. The error says why not.
    virtual std::expected<SessionRecord, std::string> find(const std::string& id_or_prefix) = 0;
    virtual std::vector<CommandRecord> commands(const std::string& session_id) = 0;
    /// Calls `on_command` with each command in seq order, read in pieces: a session's commands
    /// (a long one has them by the hundred thousand) never sit in memory all at once.
    virtual void for_each_command(const std::string& session_id, const std::function<void(CommandRecord&&)>& on_command) = 0;
    /// One command of a session by its seq; nullopt when there is none.
    virtual std::optional<CommandRecord> command(const std::string& session_id, uint32_t seq) = 0;
    /// Calls `on_chunk` with each chunk in order, decompressed. A damaged chunk is reported
    /// through the returned error after the chunks before it were delivered.
    virtual std::expected<void, std::string> for_each_chunk(const std::string& session_id,
                                                            const std::function<void(const ChunkRecord&)>& on_chunk) = 0;
    /// One chunk by its seq, decompressed (replay reads the chunks it plays, one at a time).
    virtual std::expected<ChunkRecord, std::string> chunk(const std::string& session_id, uint32_t seq) = 0;
};

struct RequestFilter {
    std::vector<std::string> states;  ///< empty: all
    std::optional<int64_t> since_ns, until_ns;  ///< on the request's receive time
    std::optional<std::string> namespace_name, pod, user;
    std::optional<size_t> limit;
};

/// API requests (exec, attach, ...) and the sessions they were matched to.
class RequestReader {
public:
    virtual ~RequestReader() = default;

    /// Newest first.
    virtual std::vector<ExecRequestRecord> list(const RequestFilter& filter) = 0;
    /// The request a session was matched to, or every candidate of an ambiguous one.
    virtual std::vector<ExecRequestRecord> requests_of_session(const std::string& session_id) = 0;
    /// The same for a session read already, without a query when it has neither.
    std::vector<ExecRequestRecord> requests_of_session(const SessionRecord& session) {
        if (session.audit_id.empty() && session.attribution != "ambiguous") return {};
        return requests_of_session(session.id);
    }
};

/// What an outbox row points to. Values are stored: append only.
enum class OutboxKind : int { session_start = 1, command = 2, session_end = 3, session_attributed = 4 };

struct OutboxEntry {
    int64_t position = 0;
    std::string session_id;
    OutboxKind kind = OutboxKind::session_start;
    uint32_t seq = 0;       ///< command: its seq in the session; session_attributed: 0, 1, ...
    int64_t noted_ns = 0;   ///< wall clock when the row was written (for session_attributed: when decided)
};

/// The exportable records in the order they became final (storage/export_outbox.h).
class OutboxReader {
public:
    virtual ~OutboxReader() = default;

    /// Entries after `position`, oldest first, at most `limit`. With `session_id`, only that session's.
    virtual std::vector<OutboxEntry> after(int64_t position, size_t limit,
                                           const std::optional<std::string>& session_id = std::nullopt) = 0;
    /// How many entries lie after `position`: an exporter's backlog.
    virtual int64_t count_after(int64_t position) = 0;
    /// The newest position (0 when empty).
    virtual int64_t last_position() = 0;
};

}  // namespace execaudit::storage
