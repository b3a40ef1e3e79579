#pragma once
// Outbox entries become ExportRecord messages: the session (and command) as stored now, in
// execaudit.proto's terms. Read through the exporter's own connection, never the writer's.

#include "execaudit.pb.h"
#include "storage/export_outbox.h"
#include "storage/request_store.h"
#include "storage/session_store.h"

#include <memory>
#include <optional>

namespace execaudit::exporting {

class RecordReader {
public:
    /// Reads a node's SQLite.
    explicit RecordReader(storage::Database& db)
        : own_store_(std::make_unique<storage::SessionStore>(db)), own_requests_(std::make_unique<storage::RequestStore>(db)),
          store_(*own_store_), requests_(*own_requests_) {}
    /// Reads any backend (the cluster's PostgreSQL).
    RecordReader(storage::SessionReader& sessions, storage::RequestReader& requests) : store_(sessions), requests_(requests) {}

    /// The record an entry stands for, or nullopt when its session or command is gone (deleted
    /// by retention): nothing is left to send.
    std::optional<v1::ExportRecord> read(const storage::OutboxEntry& entry);
    /// Forgets the cached session: call before each batch so records carry what changed since.
    void new_batch() { cached_.reset(); }

private:
    struct CachedSession {
        storage::SessionRecord record;
        v1::Session proto;  ///< with the whole identity of who asked, as `show` has it
    };
    std::unique_ptr<storage::SessionStore> own_store_;
    std::unique_ptr<storage::RequestStore> own_requests_;
    storage::SessionReader& store_;
    storage::RequestReader& requests_;
    std::optional<CachedSession> cached_;  ///< consecutive entries are often one session's
};

}  // namespace execaudit::exporting
