#pragma once
// One node's batch into the cluster store, in one transaction: everything it holds is stored
// (idempotently: a record sent again changes nothing) and the node's spool position moves with
// it, or nothing is. The node is the one its certificate proves; a batch that claims another
// node, or a session another node owns, is refused whole. Records at or before the position the
// collector already committed for that spool (a resend whose acknowledgement was lost, or a
// replay) are skipped and counted.

#include "proto/upload_wire.h"
#include "storage/head_signing.h"
#include "storage/postgres/pg_connection.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace execaudit::collector {

/// Why a batch was refused (a label of collector_upload_rejected_total).
enum class Refusal {
    none,
    malformed,       ///< 400: framing or a record's contents
    node_mismatch,   ///< 403: the batch or a session claims a node other than the certificate's
    foreign_session, ///< 403: a session id another node owns
    unknown_session, ///< 409: a command or chunk of a session the store does not hold
    database,        ///< 400: the database refused a record (a constraint)
};
const char* refusal_name(Refusal r);

struct IngestResult {
    int status = 200;
    Refusal refusal = Refusal::none;
    std::string message;     ///< for the node (and the log); never database credentials
    uint64_t stored = 0;     ///< records written
    uint64_t replayed = 0;   ///< records at or before the committed position: skipped
    uint64_t deleted = 0;    ///< records of sessions retention deleted (tombstoned): acknowledged, never re-inserted
    std::vector<std::string> deleted_sessions;  ///< their session ids, once each
    /// Records of sessions the collector has sealed: written never. The same as sealed (a resend).
    uint64_t sealed_resent = 0;
    /// ... and those that differ from what was sealed or add to it: a node rewriting what already
    /// left it (a finding: "session ID: command 3", ...). The batch is still acknowledged.
    std::vector<std::pair<std::string, std::string>> sealed_rewrites;
    int64_t acked_position = 0;
};

/// The node's hash chain of every ended session in `batch`, checked against what the cluster store
/// now holds (docs/integrity.md): the ids of those that verify and of those that do not, with why.
/// Each that verifies is sealed there (storage/postgres/pg_writer.h seal_session) and, with
/// `signer` (`collect --signing-key`), countersigned; a session sealed before is not checked again.
struct ChainCheck {
    std::vector<std::string> intact;
    std::vector<std::pair<std::string, std::string>> failed;  ///< session id, "ALTERED: ..."
    uint64_t sealed = 0;
};
ChainCheck check_chains(storage::pg::Connection& c, const upload::Batch& batch, int64_t now_ns = 0,
                        const storage::HeadSigner* signer = nullptr);

/// `node`: the name the uploader's certificate proves; `cluster`: the collector's --cluster-name,
/// stored instead of the one a node gives; `signer`: the collector's key for the ledger entries of
/// new sessions (null: unsigned). A record of a session retention deleted is acknowledged and
/// ignored (counted in `deleted`): a node replaying its spool never brings it back. Throws PgError when the connection is lost (the caller
/// answers 503); every other failure is in the result.
IngestResult ingest_batch(storage::pg::Connection& c, const std::string& node, const upload::Batch& batch, int64_t now_ns,
                          const std::optional<std::string>& cluster = std::nullopt, const storage::HeadSigner* signer = nullptr);

}  // namespace execaudit::collector
