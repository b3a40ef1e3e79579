#pragma once
// The session ledger and the tombstones on the cluster store (schema v6; the same meaning as the
// node's, storage/session_ledger.h): a `recorded` entry when the collector first stores a session
// (collector/upload_ingest.h: in the ingest transaction, last before its commit), a `deleted` entry with each
// tombstone (storage/postgres/pg_retention.h). Appends lock the ledger's one head row, so replicas
// ingesting at once append one after the other, each over the hash before it. Signed when the
// collector has a signing key (`signer`), unsigned otherwise.

#include "storage/head_signing.h"
#include "storage/postgres/pg_connection.h"
#include "storage/records.h"
#include "storage/session_ledger.h"

#include <optional>
#include <string>
#include <vector>

namespace execaudit::storage::pg {

/// Appends an entry after the newest one, inside the caller's transaction (the head row stays
/// locked until it ends: take it as late as possible).
LedgerEntry append_ledger(Connection& c, const std::string& session_id, LedgerKind kind, int64_t time_ns,
                          const std::string& digest, const HeadSigner* signer);
/// Enters every stored session without a `recorded` entry, oldest first, inside the caller's
/// transaction (the migration to v6). Returns how many.
size_t backfill_ledger(Connection& c, const HeadSigner* signer);
/// Whether retention deleted (or is deleting) this exact session id.
bool tombstoned(Connection& c, const std::string& session_id);

/// The ledger and the tombstones for `verify` and `report` (any role that may read).
class PgLedger final : public LedgerReader {
public:
    explicit PgLedger(Connection& c) : c_(c) {}
    std::vector<LedgerEntry> entries() override;
    std::vector<std::string> session_ids() override;
    std::vector<TombstoneRecord> tombstones(std::optional<int64_t> since_ns, std::optional<int64_t> until_ns) override;
    std::optional<TombstoneRecord> tombstone(const std::string& id_or_prefix) override;

private:
    Connection& c_;
};

/// The tombstone columns in the order read_tombstone() reads them.
extern const char* const kTombstoneColumns;
TombstoneRecord read_tombstone(const Result& r, int row);

}  // namespace execaudit::storage::pg
