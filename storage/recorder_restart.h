#pragma once
// What a recorder that starts needs from the one before it: the open sessions it can continue
// (same node, same boot, a kernel session number), the rest closed as interrupted, and small
// markers between the two (recorder_state: whether the previous one stopped cleanly).

#include "storage/database.h"
#include "storage/records.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace execaudit::storage {

struct ResumableSession {
    SessionRecord record;       ///< as stored; record.kernel_session_id is set
    uint32_t next_command_seq = 0;
    uint32_t next_chunk_seq = 0;
};

/// Open sessions of `node` recorded in boot `boot_id` that carry a kernel session number.
std::vector<ResumableSession> resumable_sessions(Database& db, const std::string& node, const std::string& boot_id);

/// Closes sessions left open by a recorder that stopped without closing them (crash, kill -9,
/// a reboot, pins removed), except `keep_ids`: status becomes `interrupted`, end the time of
/// their last record. Returns how many.
int close_abandoned_sessions(Database& db, const std::set<std::string>& keep_ids = {});

std::optional<std::string> get_recorder_state(Database& db, const std::string& key);
void set_recorder_state(Database& db, const std::string& key, const std::string& value);
void clear_recorder_state(Database& db, const std::string& key);

/// recorder_state key: the boot id in which the last recorder stopped cleanly (flushed all).
inline constexpr const char* kCleanStopKey = "clean_stop";

}  // namespace execaudit::storage
