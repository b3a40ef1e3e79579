#include "storage/recorder_restart.h"

#include "storage/session_store.h"

#include <sqlite3.h>

namespace execaudit::storage {

std::vector<ResumableSession> resumable_sessions(Database& db, const std::string& node, const std::string& boot_id) {
    auto st = db.prepare(
        "SELECT s.id, s.kernel_session_id, s.commands, "
        "(SELECT max(seq) FROM commands WHERE session_id = s.id), "
        "(SELECT max(seq) FROM io_chunks WHERE session_id = s.id) "
        "FROM sessions s WHERE s.status = 'open' AND s.node = ?1 AND s.boot_id = ?2 AND s.kernel_session_id <> 0");
    st.bind(1, node).bind(2, boot_id);
    std::vector<ResumableSession> out;
    SessionStore store(db);
    while (st.step()) {
        auto found = store.find(st.column_text(0));
        if (!found) continue;
        ResumableSession r;
        r.record = std::move(*found);
        r.record.kernel_session_id = static_cast<uint64_t>(st.column_int(1));
        auto commands = static_cast<uint32_t>(st.column_int(2));
        auto last_command = st.column_optional_int(3);
        auto last_chunk = st.column_optional_int(4);
        r.next_command_seq = std::max(commands, last_command ? static_cast<uint32_t>(*last_command + 1) : 0u);
        r.next_chunk_seq = last_chunk ? static_cast<uint32_t>(*last_chunk + 1) : 0u;
        out.push_back(std::move(r));
    }
    return out;
}

int close_abandoned_sessions(Database& db, const std::set<std::string>& keep_ids) {
    Transaction tx(db);
    db.exec("CREATE TEMP TABLE IF NOT EXISTS resumed_ids (id TEXT PRIMARY KEY)");
    db.exec("DELETE FROM resumed_ids");
    auto keep = db.prepare("INSERT OR IGNORE INTO resumed_ids (id) VALUES (?1)");
    for (const auto& id : keep_ids) {
        keep.bind(1, id);
        keep.run();
        keep.reset();
    }
    auto st = db.prepare(
        "UPDATE sessions SET status = 'interrupted', end_ns = max(start_ns, last_activity_ns) "
        "WHERE status = 'open' AND id NOT IN (SELECT id FROM resumed_ids)");
    st.run();
    int n = sqlite3_changes(db.handle());
    db.exec("DELETE FROM resumed_ids");
    tx.commit();
    return n;
}

std::optional<std::string> get_recorder_state(Database& db, const std::string& key) {
    auto st = db.prepare("SELECT value FROM recorder_state WHERE key = ?1");
    st.bind(1, key);
    if (!st.step()) return std::nullopt;
    return st.column_text(0);
}

void set_recorder_state(Database& db, const std::string& key, const std::string& value) {
    auto st = db.prepare("INSERT OR REPLACE INTO recorder_state (key, value) VALUES (?1, ?2)");
    st.bind(1, key).bind(2, value);
    st.run();
}

void clear_recorder_state(Database& db, const std::string& key) {
    auto st = db.prepare("DELETE FROM recorder_state WHERE key = ?1");
    st.bind(1, key);
    st.run();
}

}  // namespace execaudit::storage
