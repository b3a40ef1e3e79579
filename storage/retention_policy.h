#pragma once
// Retention's rules (docs/retention.md), the same for a node's SQLite (storage/retention.h) and the
// cluster's PostgreSQL (storage/postgres/pg_retention.h): the policy as configured, the rule a
// namespace is kept by, and whether a session may go by age. No SQL here: each backend finds its
// candidates and deletes them its own way, and asks these functions what to do.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::storage {

inline constexpr int64_t kDayNs = 86'400'000'000'000;

/// A size given as bytes ("10G", "512MiB", "1073741824") or as a share of the database's file
/// system ("25%"); "0" turns it off.
struct SizeBound {
    uint64_t bytes = 0;
    double percent = 0;  ///< > 0: a share of the file system
    std::string text;    ///< as given
    bool off() const { return bytes == 0 && percent <= 0; }
    uint64_t resolve(uint64_t filesystem_bytes) const;
};
/// Throws UsageError naming `flag` for anything else.
SizeBound parse_size_bound(std::string_view text, std::string_view flag);

struct NamespaceRule {
    std::string glob;             ///< fnmatch(3) pattern on the session's namespace
    std::optional<uint32_t> days; ///< nullopt: forever (never deleted by age)
    std::string text;             ///< "prod-*=400"
};
/// "GLOB=DAYS" or "GLOB=forever"; throws UsageError.
NamespaceRule parse_namespace_rule(std::string_view text);

struct RetentionPolicy {
    std::optional<uint32_t> days;  ///< --retention-days; nullopt: no age limit
    std::vector<NamespaceRule> namespaces;
    SizeBound max_db_size;     ///< the live pages of the database
    SizeBound min_free_space;  ///< free space kept on the database's file system (reusable pages count as free)
    /// Export cursors (export_cursor.name) that must have confirmed a session before it may go:
    /// the configured destinations. Empty: nothing gates deletion.
    std::vector<std::string> export_cursors;
    bool any_age_rule() const;
    std::string describe() const;  ///< for the start-up log line
};

/// The rule a namespace is kept by: its days (nullopt: no age limit) and its name as configured.
struct AppliedRule {
    std::optional<uint32_t> days;
    std::string text;  ///< "retention-days 30", "retention-namespace prod-*=400", "" (none)
};
/// The most specific matching namespace rule (an exact name beats any glob; then the glob with
/// the most characters other than * ? [ ]; then the first given), else --retention-days.
AppliedRule rule_for(const RetentionPolicy& policy, std::string_view namespace_name);

/// A session that has ended, as a backend found it, for judge_by_age().
struct RetentionCandidate {
    std::string id, namespace_name;
    int64_t ended_ns = 0;   ///< its end (an interrupted one: its last record)
    bool held = false;      ///< under legal hold
    bool exported = true;   ///< every configured export destination (and, on a node in cluster mode, the collector) has all of it
};

enum class AgeVerdict {
    keep,        ///< its rule has not passed (or it has no age limit)
    held,        ///< past its rule, kept by a legal hold
    unexported,  ///< past its rule, waiting for an export destination
    expired,     ///< delete it (cause `age`, rule `rule`)
};
struct AgeJudgement {
    AgeVerdict verdict = AgeVerdict::keep;
    AppliedRule rule;
};
AgeJudgement judge_by_age(const RetentionPolicy& policy, const RetentionCandidate& c, int64_t now_ns);
/// Sessions that ended at or after this time are past no rule (the shortest rule's cutoff); only
/// those before it are worth looking at. nullopt: no age rule at all.
std::optional<int64_t> age_cutoff(const RetentionPolicy& policy, int64_t now_ns);

}  // namespace execaudit::storage
