#pragma once
// The session ledger (schema v8, docs/retention.md): one hash chain, per store, of every session
// recorded (entry kind 1, appended by the writer in the transaction that first stores the
// session) and every session deleted by retention (kind 2, appended with its tombstone). With
// `record --signing-key` each entry is signed. `verify` walks it: a session that is in the ledger
// but neither stored nor tombstoned was removed by someone, not by policy; a tombstone whose
// digest or signature does not match is a removal dressed as a deletion.
//
// Thread: whoever holds the connection, inside a write transaction (BEGIN IMMEDIATE), so the
// writer's and retention's appends are serialised by SQLite.

#include "storage/chain_verify.h"
#include "storage/database.h"
#include "storage/head_signing.h"
#include "storage/records.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::storage {

enum class LedgerKind : int { recorded = 1, deleted = 2 };

struct LedgerEntry {
    int64_t position = 0;
    std::string session_id;
    LedgerKind kind = LedgerKind::recorded;
    int64_t time_ns = 0;  ///< recorded: the session's start; deleted: when its deletion began
    std::string digest;   ///< recorded: the chain start; deleted: the tombstone's digest
    std::string hash, signature, signing_key;
};

/// Appends an entry after the newest one. Call inside a write transaction.
LedgerEntry append_ledger(Database& db, const std::string& session_id, LedgerKind kind, int64_t time_ns,
                          const std::string& digest, const HeadSigner* signer);
/// Appends a `recorded` entry for a stored session that has none. False: it has one, or no row.
bool ledger_session(Database& db, const std::string& session_id, const HeadSigner* signer);
/// Enters every stored session without an entry (recorded before v8), oldest first, once per
/// database (recorder_state `ledger_backfilled`); later calls enter nothing. Returns how many.
size_t backfill_ledger(Database& db, const HeadSigner* signer);

/// The ledger and the tombstones of a store, read for `verify` and `report`.
class LedgerReader {
public:
    virtual ~LedgerReader() = default;
    /// Every entry, by position.
    virtual std::vector<LedgerEntry> entries() = 0;
    /// Every stored session's id.
    virtual std::vector<std::string> session_ids() = 0;
    /// The stored sessions that count more than their own run (runs > 1), with that count.
    virtual std::map<std::string, uint64_t> folded_rows() { return {}; }
    /// Tombstones of sessions running in [since, until) (either bound optional), oldest first.
    virtual std::vector<TombstoneRecord> tombstones(std::optional<int64_t> since_ns, std::optional<int64_t> until_ns) = 0;
    /// A tombstone by exact id or unique prefix.
    virtual std::optional<TombstoneRecord> tombstone(const std::string& id_or_prefix) = 0;
};

/// The SQLite backend.
class SqliteLedger final : public LedgerReader {
public:
    explicit SqliteLedger(Database& db) : db_(db) {}
    std::vector<LedgerEntry> entries() override;
    std::vector<std::string> session_ids() override;
    std::map<std::string, uint64_t> folded_rows() override;
    std::vector<TombstoneRecord> tombstones(std::optional<int64_t> since_ns, std::optional<int64_t> until_ns) override;
    std::optional<TombstoneRecord> tombstone(const std::string& id_or_prefix) override;

private:
    Database& db_;
};

/// One finding of the ledger walk: a session (or the ledger itself: empty id) that failed.
struct LedgerFinding {
    std::string session_id;  ///< empty: the ledger itself
    Integrity verdict = Integrity::removed;
    std::string detail;
    int64_t time_ns = 0;  ///< the session's start where known
};

struct LedgerCheck {
    uint64_t entries = 0;
    std::vector<LedgerFinding> problems;      ///< removed sessions, altered or unsigned entries, forged tombstones
    std::vector<TombstoneRecord> deleted;     ///< deleted by policy (folded runs included), in the range, their entries intact
};

/// Walks the whole ledger (its chain and, with `key`, every signature) and reports the sessions in
/// [since, until) it finds removed, and the tombstones there.
LedgerCheck verify_ledger(LedgerReader& ledger, const HeadVerifier* key, std::optional<int64_t> since_ns,
                          std::optional<int64_t> until_ns);

}  // namespace execaudit::storage
