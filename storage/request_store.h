#pragma once
// The read side of correlation: API requests (exec, attach, ...) and their states, a session's
// candidates, the audit log cursor, and what is still unsettled after a restart.

#include "storage/database.h"
#include "storage/readers.h"

#include <optional>
#include <string>
#include <vector>

namespace execaudit::storage {

/// A request's argv, exactly: length-prefixed, since an argument may hold a NUL byte (a
/// requestURI's %00) and the NUL-separated column would split it.
std::string pack_argv(const std::vector<std::string>& argv);
std::vector<std::string> unpack_argv(std::string_view packed);

/// The SQLite backend of RequestReader, and what only the node's correlator reads.
class RequestStore final : public RequestReader {
public:
    explicit RequestStore(Database& db) : db_(db) {}

    /// Newest first.
    std::vector<ExecRequestRecord> list(const RequestFilter& filter) override;
    /// The request a session was matched to, or every candidate of an ambiguous one.
    std::vector<ExecRequestRecord> requests_of_session(const std::string& session_id) override;
    using RequestReader::requests_of_session;
    std::optional<LogCursorRecord> log_cursor(const std::string& path);
    /// Sessions whose attribution may still change (pending, unattributed, ambiguous) that
    /// started after `since_ns`: the correlator reloads them after a restart.
    std::vector<SessionRecord> unsettled_sessions(int64_t since_ns);

private:
    Database& db_;
};

}  // namespace execaudit::storage
