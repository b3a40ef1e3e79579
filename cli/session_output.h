#pragma once
// How `sessions` and `show` print: a table for people, JSON (execaudit.proto's JSON form) and
// CSV for scripts. Every string from a container goes through terminal_safe() in tables.

#include "storage/records.h"
#include "storage/request_store.h"

#include <ostream>
#include <vector>

namespace execaudit::cli {

void print_sessions_table(std::ostream& out, const std::vector<storage::SessionRecord>& sessions);
/// Each session with the whole identity of who asked (from `requests`), without the timeline.
void print_sessions_json(std::ostream& out, const std::vector<storage::SessionRecord>& sessions,
                         storage::RequestReader& requests);
void print_sessions_csv(std::ostream& out, const std::vector<storage::SessionRecord>& sessions);

/// `requests`: the session's matched request, or its candidates when ambiguous.
void print_session_table(std::ostream& out, const storage::SessionRecord& session,
                         const std::vector<storage::CommandRecord>& timeline,
                         const std::vector<storage::ExecRequestRecord>& requests);
void print_session_json(std::ostream& out, const storage::SessionRecord& session,
                        const std::vector<storage::CommandRecord>& timeline,
                        const std::vector<storage::ExecRequestRecord>& requests);

/// `execaudit audit-events`.
void print_requests_table(std::ostream& out, const std::vector<storage::ExecRequestRecord>& requests);
void print_requests_json(std::ostream& out, const std::vector<storage::ExecRequestRecord>& requests);
void print_requests_csv(std::ostream& out, const std::vector<storage::ExecRequestRecord>& requests);

/// The cells of a session's row, shared by the table and the picker (terminal-safe).
std::string short_time(int64_t ns);                       ///< "2024-10-29 12:21:44"
std::string user_of(const storage::SessionRecord& s);     ///< the user, "(unattributed)", or "-" while pending
std::string pod_of(const storage::SessionRecord& s);      ///< "namespace/pod", or the pod's UID
std::vector<std::string> lossy(const std::vector<std::string>& argv);  ///< each argument as valid UTF-8

/// "ok", or the errno name ("ENOENT") for a failed exec, "?" when the result was lost.
std::string describe_retval(const std::optional<int32_t>& retval);

}  // namespace execaudit::cli
