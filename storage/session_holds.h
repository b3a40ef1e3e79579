#pragma once
// Legal hold (schema v8): `execaudit hold ID... --reason` keeps sessions from every deletion
// (retention skips them, and the database refuses to delete a held session); `release` lifts it.
// Every hold and release is logged with who and why (hold_log). Runs on the CLI's own connection,
// beside a running recorder (one short transaction).

#include "storage/database.h"
#include "storage/records.h"

#include <cstdint>
#include <string>
#include <vector>

namespace execaudit::storage {

struct HoldEvent {
    std::string session_id;
    std::string action;  ///< hold | release
    std::string reason, actor;
    int64_t time_ns = 0;
};

struct HoldChange {
    std::string session_id;  ///< the full id
    bool changed = false;    ///< false: it was held already (hold) / not held (release)
    std::string note;        ///< what was there before, for the message
};

/// Holds each session (exact id or unique prefix), all or none. Throws UsageError naming the first
/// id that is not a stored session (deleted by retention: says so, with its rule) or is ambiguous.
std::vector<HoldChange> hold_sessions(Database& db, const std::vector<std::string>& ids, const std::string& reason,
                                      const std::string& actor, int64_t now_ns);
/// Releases each; throws UsageError for an id that is not stored. A session not held is reported unchanged.
std::vector<HoldChange> release_sessions(Database& db, const std::vector<std::string>& ids, const std::string& reason,
                                         const std::string& actor, int64_t now_ns);
/// Throws UsageError unless `reason` is given and both fit (shared by both stores).
void check_hold_text(const std::string& reason, const std::string& actor);
/// Throws UsageError when `tombstone` is set: the session is deleted by retention, or being deleted,
/// and there is nothing left to hold (shared by both stores).
void refuse_a_deleted_session(const std::optional<TombstoneRecord>& tombstone);
/// A session's holds and releases, oldest first.
std::vector<HoldEvent> hold_history(Database& db, const std::string& session_id);

}  // namespace execaudit::storage
