#pragma once
// The chain heads a SIEM holds (`verify --exported FILE`, docs/integrity.md): every session end
// the export wrote carries its session's head (`chain`), so a copy of the export is a record of
// the heads that root on the node cannot reach. Reading it back and comparing it with the store
// tells a session rewritten after it left the node (another head), or removed from the store
// (exported, gone, no tombstone), from an intact one.
//
// The file is hostile input like any other: lines that are not an export record, or too long,
// are counted and named by line number, never trusted and never fatal.

#include "storage/chain_verify.h"
#include "storage/records.h"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace execaudit::storage {

/// A session's head as an export wrote it.
struct ExportedHead {
    std::string head;  ///< 32 bytes
    uint64_t records = 0;
    std::string time;   ///< the record's time (RFC 3339), for messages
    std::optional<int64_t> start_ns;  ///< the session's start, when the record says it
    std::string node;
    std::string where;  ///< "FILE:LINE"
    /// Another head for the same session later in the export (a rewrite exported again): its place.
    std::string other_head_at;
};

struct ExportedHeads {
    std::map<std::string, ExportedHead> sessions;  ///< by session id
    uint64_t lines = 0, records = 0;
    uint64_t unreadable = 0;                        ///< lines that are not an export record
    std::vector<std::string> unreadable_examples;   ///< "FILE:LINE: why", the first few
};

/// Reads JSON lines files as `--export-jsonl` or `execaudit export` write them, in either style
/// (execaudit.proto's or ECS). Throws UsageError when a file cannot be opened.
ExportedHeads read_exported_heads(const std::vector<std::string>& paths);

/// One session's comparison with the export.
struct ExportComparison {
    std::string session_id;
    Integrity verdict = Integrity::intact;  ///< intact, altered, removed, deleted (by a rule: fine)
    std::string detail;
};

/// What is compared: the stored sessions checked (`stored`), and the exported sessions among
/// `ids` (when verify was given ids) or, without ids, those that started in [since, until).
struct ExportScope {
    std::vector<std::string> ids;  ///< full ids; empty: by time
    std::optional<int64_t> since_ns, until_ns;
    /// The nodes the store records (a node's SQLite: its own): exported sessions of other nodes
    /// (an export file of several) are not this store's to answer for. Empty: any.
    std::set<std::string> nodes;
};

/// `tombstones`: what retention deleted, by session id. One entry per exported session in scope.
std::vector<ExportComparison> compare_with_export(const ExportedHeads& exported, const std::vector<SessionRecord>& stored,
                                                  const std::map<std::string, TombstoneRecord>& tombstones,
                                                  const ExportScope& scope);

}  // namespace execaudit::storage
