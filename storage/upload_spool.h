#pragma once
// The node's SQLite as the durable upload spool (cluster mode, schema v8): while upload is
// enabled, triggers note every stored session, command and chunk in upload_outbox, in commit
// order, inside the writer's own transactions. The uploader (recorder/upload/) reads what is
// pending, sends it, and acknowledges up to a position only after the collector committed it;
// acknowledged rows are deleted. Nothing is ever lost between the two: a row is either pending
// or acknowledged, across crashes and restarts of either side.

#include "storage/database.h"

#include <cstdint>
#include <string>
#include <vector>

namespace execaudit::storage {

/// recorder_state keys: the spool's id while upload is enabled; the position acknowledged last.
inline constexpr const char* kUploadSpoolKey = "upload_spool";
inline constexpr const char* kUploadAckedKey = "upload_acked";

/// Turns the spool on and returns its id. The first time (or after it was turned off), every
/// record already stored is queued too: a node that joins a cluster uploads its history.
std::string enable_upload_spool(Database& db);
/// Turns the triggers off (`record` without --collector); returns how many records stay
/// unacknowledged (kept: they are sent once upload is enabled again).
int64_t disable_upload_spool(Database& db);

/// What an outbox row points to. Values are stored: append only.
enum class SpoolKind : int { session = 1, command = 2, chunk = 3 };

struct SpoolEntry {
    int64_t position = 0;
    std::string session_id;
    SpoolKind kind = SpoolKind::session;
    uint32_t seq = 0;
};

/// The uploader's view of the spool (its own connection).
class UploadSpool {
public:
    explicit UploadSpool(Database& db);

    /// Pending entries after `position`, oldest first, at most `limit`.
    std::vector<SpoolEntry> pending(int64_t after, size_t limit);
    /// Entries not acknowledged.
    int64_t backlog();
    /// Everything up to `position` is committed at the collector: deleted, and the marker moves
    /// (never backwards), in one transaction.
    void acknowledge(int64_t position);
    /// The position acknowledged last (0: none).
    int64_t acknowledged();

private:
    Database& db_;
    Statement pending_;
    Statement backlog_;
    Statement delete_upto_;
};

}  // namespace execaudit::storage
