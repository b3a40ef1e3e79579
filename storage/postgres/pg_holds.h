#pragma once
// Legal hold on the cluster store (schema v6; the same as the node's, storage/session_holds.h):
// `execaudit hold ID... --db postgresql://...` with the collector's writing role. A held session
// is never deleted by the collector's retention, and the database refuses to delete its row.

#include "storage/postgres/pg_connection.h"
#include "storage/session_holds.h"

#include <string>
#include <vector>

namespace execaudit::storage::pg {

/// All or none, in one transaction. Throws UsageError for an id that is not a stored session (or
/// was deleted by retention: says when and by which rule), and for a role that may not write
/// ("a hold needs the collector's writing role"), never a bare SQLSTATE.
std::vector<HoldChange> hold_sessions(Connection& c, const std::vector<std::string>& ids, const std::string& reason,
                                      const std::string& actor, int64_t now_ns);
std::vector<HoldChange> release_sessions(Connection& c, const std::vector<std::string>& ids, const std::string& reason,
                                         const std::string& actor, int64_t now_ns);

}  // namespace execaudit::storage::pg
