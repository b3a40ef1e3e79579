#pragma once
// `execaudit verify`: recomputes a session's hash chain (storage/session_chain.h) from what a
// store holds, through the read interface, so the node's SQLite and the cluster's PostgreSQL are
// checked the same way; names the first record that was altered, removed, reordered, truncated
// or re-signed.

#include "storage/head_signing.h"
#include "storage/readers.h"

#include <cstdint>
#include <string>

namespace execaudit::storage {

enum class Integrity {
    intact,         ///< every record matches its chain, the head matches and (with a key) its signature
    open,           ///< still recording: what is stored so far matches; no head yet
    unchained,      ///< recorded before hash chains existed: nothing to check
    altered,        ///< a record (or the start, or the end) does not match the chain
    removed,        ///< a record in the middle is missing
    reordered,      ///< a record sits out of its chain order
    truncated,      ///< records at the end are missing
    unsealed,       ///< ended, but its head is gone
    unsigned_head,  ///< a public key was given and the head carries no signature
    bad_signature,  ///< the signature is not the given key's over this head (re-signed, or forged)
    deleted,        ///< deleted by a retention rule: its tombstone and ledger entry are intact (not a failure)
};
const char* integrity_name(Integrity i);
/// Whether `verify` fails on it.
bool integrity_failed(Integrity i);

struct SessionIntegrity {
    Integrity verdict = Integrity::intact;
    std::string detail;    ///< which record, and what is wrong with it
    uint64_t records = 0;  ///< records checked
    uint64_t bytes = 0;    ///< terminal bytes hashed
};

/// `key`: check the head's signature with it (null: the chain only).
SessionIntegrity verify_session(SessionReader& store, const SessionRecord& session, const HeadVerifier* key);

}  // namespace execaudit::storage
