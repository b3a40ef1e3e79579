#pragma once
// A session's hash chain (docs/integrity.md defines it; this is the one implementation): the
// canonical bytes of each record, independent of the store that holds it, and SHA-256 over the
// previous hash and those bytes. The writer extends it as it stores (storage/store_writer.h),
// `execaudit verify` recomputes it from either store (storage/chain_verify.h).
//
//   record 0      the start: what is known when the session begins and never changes
//   records 1..n  every command and every terminal chunk (gaps and resizes are frames of chunks),
//                 in the order they were stored; each row keeps its index and its hash
//   head          H(hash n, the end: status, exit, where, counters, n), stored with the session and,
//                 with a signing key, signed (Ed25519) over kHeadContext, the id and the head

#include "storage/records.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace execaudit::storage {

using ChainHash = std::array<uint8_t, 32>;

/// Written before the session id and the head in what a signature covers.
inline constexpr std::string_view kHeadContext = "execaudit session head v1";

ChainHash chain_start(const SessionRecord& s);
ChainHash chain_command(const ChainHash& prev, const CommandRecord& c);
/// Over the chunk's uncompressed frames: how a store compresses them does not matter.
ChainHash chain_chunk(const ChainHash& prev, const ChunkRecord& c);
/// `records`: how many records (commands and chunks) the chain holds.
ChainHash chain_head(const ChainHash& prev, const SessionRecord& s, uint64_t records);

/// What a head signature signs.
std::string head_message(const std::string& session_id, std::string_view head);

/// What the collector's countersignature signs (cluster mode, docs/cluster.md): the SHA-256 of its
/// context, the node, the session, the head it verified, how many records that head covers, and
/// when it sealed it. Once sealed, the cluster store keeps that head whatever the node sends later.
std::string countersign_message(const std::string& node, const std::string& session_id, std::string_view head,
                                uint64_t records, int64_t sealed_ns);

/// The session ledger (storage/session_ledger.h): entry `position` of `kind` (1 recorded,
/// 2 deleted by policy) over the previous entry's hash (zeros before the first).
ChainHash ledger_hash(const ChainHash& prev, int64_t position, int kind, const std::string& session_id, int64_t time_ns,
                      std::string_view digest);
/// What a ledger signature signs.
std::string ledger_message(int64_t position, std::string_view hash);
/// A tombstone's digest: what was deleted (its head), when, and by which rule.
ChainHash tombstone_digest(const TombstoneRecord& t);

std::string to_bytes(const ChainHash& h);
/// False when `bytes` is not a 32-byte hash.
bool from_bytes(std::string_view bytes, ChainHash& out);
std::string to_hex(std::string_view bytes);

}  // namespace execaudit::storage
