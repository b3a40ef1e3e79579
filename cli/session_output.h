#pragma once
// How `sessions` and `show` print: a table for people, JSON (execaudit.proto's JSON form) and
// CSV for scripts. Every string from a container goes through terminal_safe() in tables.

#include "storage/records.h"

#include <ostream>
#include <vector>

namespace execaudit::cli {

void print_sessions_table(std::ostream& out, const std::vector<storage::SessionRecord>& sessions);
void print_sessions_json(std::ostream& out, const std::vector<storage::SessionRecord>& sessions);
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

/// "ok", or the errno name ("ENOENT") for a failed exec, "?" when the result was lost.
std::string describe_retval(const std::optional<int32_t>& retval);

}  // namespace execaudit::cli
