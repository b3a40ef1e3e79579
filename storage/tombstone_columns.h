#pragma once
// A tombstone's fields in the order both stores keep them (session_tombstones in SQLite and in
// PostgreSQL). A deletion reads the session's own fields from its row; the ledger reads whole
// tombstones back. One reader for each, over any row that hands out its columns in turn
// (storage::RowColumns for SQLite, storage::pg::RowColumns for PostgreSQL).

#include "storage/records.h"

#include <cstdint>

namespace execaudit::storage {

/// What a tombstone copies from its session: node, namespace, pod, container, user, attribution,
/// status, start_ns, end_ns, commands, output_bytes, lost_bytes, chain_head, chain_records,
/// head_signature, signing_key; `c` reads the next column as text(), optional_text(), int64(),
/// optional_int64() or bytes().
template <class Columns>
void read_tombstone_subject(Columns& c, TombstoneRecord& t) {
    t.node = c.text();
    t.namespace_name = c.text();
    t.pod = c.text();
    t.container = c.text();
    t.user = c.optional_text();
    t.attribution = c.text();
    t.status = c.text();
    t.start_ns = c.int64();
    t.end_ns = c.optional_int64();
    t.commands = static_cast<uint64_t>(c.int64());
    t.output_bytes = static_cast<uint64_t>(c.int64());
    t.lost_bytes = static_cast<uint64_t>(c.int64());
    t.chain_head = c.bytes();
    t.chain_records = static_cast<uint64_t>(c.int64());
    t.head_signature = c.bytes();
    t.signing_key = c.text();
}

/// A whole stored tombstone: session_id, its subject (above), cause, rule, deleted_ns, completed_ns,
/// stored_bytes (each store's kTombstoneColumns).
template <class Columns>
TombstoneRecord read_tombstone_row(Columns& c) {
    TombstoneRecord t;
    t.session_id = c.text();
    read_tombstone_subject(c, t);
    t.cause = c.text();
    t.rule = c.text();
    t.deleted_ns = c.int64();
    t.completed_ns = c.optional_int64();
    t.stored_bytes = static_cast<uint64_t>(c.int64());
    return t;
}

}  // namespace execaudit::storage
