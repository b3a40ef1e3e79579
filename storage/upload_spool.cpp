#include "storage/upload_spool.h"

#include "storage/recorder_restart.h"

#include <fmt/format.h>
#include <sys/random.h>

namespace execaudit::storage {
namespace {

std::string random_id() {
    uint64_t v[2] = {};
    size_t got = 0;
    while (got < sizeof(v)) {
        ssize_t n = getrandom(reinterpret_cast<char*>(v) + got, sizeof(v) - got, 0);
        if (n > 0) got += static_cast<size_t>(n);
    }
    return fmt::format("{:016x}{:016x}", v[0], v[1]);
}

}  // namespace

std::string enable_upload_spool(Database& db) {
    Transaction tx(db);
    if (auto id = get_recorder_state(db, kUploadSpoolKey)) return *id;
    std::string id = random_id();
    set_recorder_state(db, kUploadSpoolKey, id);
    // What is stored already, each session's commands and chunks before the session itself (its
    // newest state: the end follows what it ends). The uploader sends each session's start first.
    db.exec(R"sql(
INSERT OR IGNORE INTO upload_outbox (session_id, kind, seq)
SELECT session_id, kind, seq FROM (
    SELECT c.session_id, 2 AS kind, c.seq, s.start_ns AS t, 0 AS o FROM commands c JOIN sessions s ON s.id = c.session_id
    UNION ALL
    SELECT k.session_id, 3, k.seq, s.start_ns, 1 FROM io_chunks k JOIN sessions s ON s.id = k.session_id
    UNION ALL
    SELECT s.id, 1, 0, s.start_ns, 2 FROM sessions s
) ORDER BY t, session_id, o, seq
)sql");
    tx.commit();
    return id;
}

int64_t disable_upload_spool(Database& db) {
    Transaction tx(db);
    clear_recorder_state(db, kUploadSpoolKey);
    auto st = db.prepare("SELECT count(*) FROM upload_outbox");
    st.step();
    int64_t n = st.column_int(0);
    st.reset();
    tx.commit();
    return n;
}

UploadSpool::UploadSpool(Database& db)
    : db_(db),
      pending_(db.prepare("SELECT position, session_id, kind, seq FROM upload_outbox WHERE position > ?1 "
                          "ORDER BY position LIMIT ?2")),
      backlog_(db.prepare("SELECT count(*) FROM upload_outbox")),
      delete_upto_(db.prepare("DELETE FROM upload_outbox WHERE position <= ?1")) {}

std::vector<SpoolEntry> UploadSpool::pending(int64_t after, size_t limit) {
    pending_.bind(1, after).bind(2, static_cast<int64_t>(limit));
    std::vector<SpoolEntry> out;
    while (pending_.step()) {
        SpoolEntry e;
        e.position = pending_.column_int(0);
        e.session_id = pending_.column_text(1);
        e.kind = static_cast<SpoolKind>(pending_.column_int(2));
        e.seq = static_cast<uint32_t>(pending_.column_int(3));
        out.push_back(std::move(e));
    }
    pending_.reset();
    return out;
}

int64_t UploadSpool::backlog() {
    backlog_.step();
    int64_t n = backlog_.column_int(0);
    backlog_.reset();
    return n;
}

int64_t UploadSpool::acknowledged() {
    auto v = get_recorder_state(db_, kUploadAckedKey);
    if (!v) return 0;
    try {
        return std::stoll(*v);
    } catch (const std::exception&) {
        return 0;
    }
}

void UploadSpool::acknowledge(int64_t position) {
    Transaction tx(db_);
    if (position <= acknowledged()) return;
    delete_upto_.bind(1, position);
    delete_upto_.run();
    set_recorder_state(db_, kUploadAckedKey, std::to_string(position));
    tx.commit();
}

}  // namespace execaudit::storage
