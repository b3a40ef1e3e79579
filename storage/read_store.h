#pragma once
// What `--db` names, opened for reading: a node's SQLite file, or the cluster's PostgreSQL
// (`postgresql://...`, a libpq URI; read commands use a read-only role). Both give the same
// read interface (storage/readers.h), so every read command behaves the same on either.

#include "storage/readers.h"
#include "storage/session_ledger.h"

#include <memory>
#include <string>

namespace execaudit::storage {

class ReadStore {
public:
    virtual ~ReadStore() = default;
    virtual SessionReader& sessions() = 0;
    virtual RequestReader& requests() = 0;
    virtual OutboxReader& outbox() = 0;
    /// The session ledger and tombstones (storage/session_ledger.h); null where the store keeps none yet.
    virtual LedgerReader* ledger() = 0;
    /// Whether the ledger's entries are signed with the key the sessions' heads are (a node's
    /// `record --signing-key`), so `verify --public-key` checks both. The cluster store's ledger is
    /// the collector's own (signed with its key, once it has one), never a node's.
    virtual bool ledger_signed_by_recorder() const { return true; }
    /// The store for messages: the file's path, or the URI without its password.
    virtual std::string label() const = 0;
};

/// Opens `db` read-only. Throws UsageError when it is missing, not execaudit's, or from a newer
/// execaudit; RuntimeError when a server cannot be reached. Never puts a password in a message.
std::unique_ptr<ReadStore> open_read_store(const std::string& db);

/// Whether `db` names the cluster's PostgreSQL rather than a SQLite file.
bool is_cluster_store(const std::string& db);

}  // namespace execaudit::storage
