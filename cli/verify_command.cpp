// `execaudit verify`: is every recorded session complete and unaltered? Recomputes each
// session's hash chain from the store (either backend) and, with --public-key, checks the head's
// signature. Exit 0 only when every checked session is intact.
#include "cli/command.h"
#include "cli/session_filter_options.h"
#include "common/errors.h"
#include "common/text.h"
#include "storage/chain_verify.h"
#include "storage/exported_heads.h"
#include "common/time_format.h"
#include "storage/read_store.h"
#include "storage/session_chain.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <map>
#include <set>

namespace execaudit::cli {
namespace {

struct VerifyArgs {
    std::string db = default_db();
    std::vector<std::string> ids;
    std::vector<std::string> public_keys;
    std::string since, until;
    std::vector<std::string> exported;
    bool quiet = false;
};

// An exported session's full id by exact id or unique prefix; "" when none or several.
std::string exported_id(const storage::ExportedHeads& e, const std::string& id_or_prefix) {
    if (e.sessions.count(id_or_prefix)) return id_or_prefix;
    std::string found;
    for (auto it = e.sessions.lower_bound(id_or_prefix); it != e.sessions.end() && it->first.starts_with(id_or_prefix); ++it) {
        if (!found.empty()) return {};
        found = it->first;
    }
    return id_or_prefix.size() >= 4 ? found : std::string();
}

// `--exported`: the heads a SIEM holds against the store. Returns how many sessions it contradicts.
size_t compare_exported(const storage::ExportedHeads& exported, storage::ReadStore& db,
                        const std::vector<storage::SessionRecord>& sessions, storage::ExportScope scope, bool quiet,
                        std::string& summary) {
    std::map<std::string, storage::TombstoneRecord> tombstones;
    if (auto* ledger = db.ledger())
        for (auto& t : ledger->tombstones(std::nullopt, std::nullopt)) {
            scope.nodes.insert(t.node);
            tombstones.emplace(t.session_id, std::move(t));
        }
    for (const auto& s : sessions) scope.nodes.insert(s.node);
    auto results = storage::compare_with_export(exported, sessions, tombstones, scope);
    size_t failed = 0, matched = 0, deleted = 0;
    for (const auto& r : results) {
        bool bad = storage::integrity_failed(r.verdict);
        failed += bad;
        matched += r.verdict == storage::Integrity::intact;
        deleted += r.verdict == storage::Integrity::deleted;
        if (bad || !quiet)
            (bad ? std::cerr : std::cout) << fmt::format("{}  {:<9}  export: {}\n", terminal_safe(r.session_id),
                                                         storage::integrity_name(r.verdict), terminal_safe(r.detail));
    }
    for (const auto& why : exported.unreadable_examples) std::cerr << "export: unreadable line " << terminal_safe(why) << '\n';
    summary += fmt::format("; {} exported heads compared ({} records in {} lines): {} match, {} deleted by rules", results.size(),
                           exported.records, exported.lines, matched, deleted);
    if (failed) summary += fmt::format(", {} contradict the store", failed);
    if (exported.unreadable) summary += fmt::format(", {} lines unreadable (not counted)", exported.unreadable);
    return failed;
}

int run_verify(const VerifyArgs& a) {
    std::optional<storage::HeadVerifier> key;
    if (!a.public_keys.empty()) key = storage::HeadVerifier::from_pem_files(a.public_keys);
    std::optional<storage::ExportedHeads> exported;
    if (!a.exported.empty()) exported = storage::read_exported_heads(a.exported);
    auto db = storage::open_read_store(a.db);
    auto& store = db->sessions();
    std::vector<storage::SessionRecord> sessions;
    std::set<std::string> deleted_ids;
    storage::ExportScope scope;
    TimeRange range;
    if (a.ids.empty()) {
        range = to_time_range(a.since, a.until);
        storage::SessionFilter filter;
        filter.since_ns = range.since_ns;
        filter.until_ns = range.until_ns;
        sessions = store.list(filter);
        scope.since_ns = range.since_ns;
        scope.until_ns = range.until_ns;
    } else {
        if (!a.since.empty() || !a.until.empty()) throw UsageError("--since/--until select sessions: give them or IDs, not both");
        for (const auto& id : a.ids) {
            auto s = store.find(id);
            if (!s) {
                // deleted by a retention rule: its tombstone is checked with the ledger below
                if (auto* ledger = db->ledger(); ledger && ledger->tombstone(id)) {
                    deleted_ids.insert(ledger->tombstone(id)->session_id);
                    scope.ids.push_back(ledger->tombstone(id)->session_id);
                    continue;
                }
                // gone from the store, but the export has it: compared below (removed)
                if (exported && !exported_id(*exported, id).empty()) {
                    scope.ids.push_back(exported_id(*exported, id));
                    continue;
                }
                throw UsageError(s.error());
            }
            scope.ids.push_back(s->id);
            sessions.push_back(std::move(*s));
        }
    }
    auto started = std::chrono::steady_clock::now();
    size_t failed = 0, intact = 0, open = 0, unchained = 0;
    uint64_t bytes = 0;
    for (const auto& s : sessions) {
        auto r = storage::verify_session(store, s, key ? &*key : nullptr);
        bytes += r.bytes;
        bool bad = storage::integrity_failed(r.verdict);
        failed += bad;
        intact += r.verdict == storage::Integrity::intact;
        open += r.verdict == storage::Integrity::open;
        unchained += r.verdict == storage::Integrity::unchained;
        if (bad || !a.quiet)
            (bad ? std::cerr : std::cout) << fmt::format("{}  {:<9}  {}\n", terminal_safe(s.id), storage::integrity_name(r.verdict),
                                                         terminal_safe(r.detail));
    }
    // The ledger: every session ever recorded here is stored, or was deleted by a rule (its tombstone).
    size_t deleted = 0, folded = 0, ledger_failed = 0;
    std::string no_ledger;
    if (auto* ledger = db->ledger()) {
        // the cluster store's ledger is the collector's: a node's key says nothing of its entries;
        // they are checked when the key of the newest entry (the collector's) is among --public-key
        bool ledger_key = key && db->ledger_signed_by_recorder();
        if (key && !ledger_key) {
            auto entries = ledger->entries();
            if (!entries.empty() && !entries.back().signing_key.empty() && key->holds(entries.back().signing_key))
                ledger_key = true;
            else
                no_ledger = "; the cluster store's ledger entries are the collector's, not checked: give the public half of "
                            "`collect --signing-key` with --public-key";
        }
        auto check = storage::verify_ledger(*ledger, ledger_key ? &*key : nullptr, range.since_ns, range.until_ns);
        bool whole = a.ids.empty();
        for (const auto& p : check.problems) {
            if (!whole && !deleted_ids.count(p.session_id)) continue;
            ++ledger_failed;
            std::cerr << fmt::format("{}  {:<9}  {}\n", p.session_id.empty() ? "ledger" : terminal_safe(p.session_id),
                                     storage::integrity_name(p.verdict), terminal_safe(p.detail));
        }
        // folded runs (docs/kubelet-execs.md): one line per row they were folded into, not one per run
        std::map<std::string, size_t> folded_into;
        for (const auto& t : check.deleted) {
            if (!whole && !deleted_ids.count(t.session_id)) continue;
            ++deleted;
            if (t.cause == "folded") {
                ++folded;
                ++folded_into[t.folded_into()];
                continue;
            }
            if (!a.quiet)
                std::cout << fmt::format("{}  {:<9}  {} at {} by rule {}{}; it had {} records, head {}\n", terminal_safe(t.session_id),
                                         "deleted", t.cause == "size" ? "to stay within the size bounds" : "past its retention",
                                         format_rfc3339_us(t.deleted_ns), terminal_safe(t.rule),
                                         t.completed_ns ? "" : " (in progress)", t.chain_records,
                                         t.chain_head.empty() ? "none" : storage::to_hex(t.chain_head).substr(0, 16));
        }
        if (!a.quiet)
            for (const auto& [target, n] : folded_into)
                std::cout << fmt::format("{}  {:<9}  {} later kubelet run{} folded into this row (cause folded), each a tombstone "
                                         "intact in the ledger\n",
                                         terminal_safe(target), "folded", n, n == 1 ? "" : "s");
        failed += ledger_failed;
    } else {
        no_ledger = "; this store keeps no session ledger yet: a whole session removed from it cannot be detected";
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string summary = fmt::format("{} sessions checked in {:.2f} s ({:.1f} MB of terminal data): {} intact", sessions.size(),
                                      secs, static_cast<double>(bytes) / 1e6, intact);
    if (open) summary += fmt::format(", {} still recording (consistent so far)", open);
    if (unchained) summary += fmt::format(", {} recorded before hash chains (not checkable)", unchained);
    if (deleted - folded) summary += fmt::format(", {} deleted by retention rules (tombstones intact)", deleted - folded);
    if (folded) summary += fmt::format(", {} kubelet runs folded into the rows that count them (tombstones intact)", folded);
    if (ledger_failed) summary += fmt::format(", {} ledger failures (sessions removed, or the ledger altered)", ledger_failed);
    if (failed) summary += fmt::format(", {} FAILED", failed);
    if (!key) summary += "; signatures not checked (no --public-key)";
    summary += no_ledger;
    if (exported) {
        size_t contradicted = compare_exported(*exported, *db, sessions, scope, a.quiet, summary);
        if (contradicted && !failed) summary = summary + fmt::format("; {} FAILED", contradicted);
        failed += contradicted;
    }
    (failed ? std::cerr : std::cout) << summary << '\n';
    return failed ? 1 : 0;
}

}  // namespace

void add_verify_command(CLI::App& app, Commands& commands) {
    auto args = std::make_shared<VerifyArgs>();
    auto* v = app.add_subcommand("verify", "Recompute sessions' hash chains: exit 0 only if every checked session is complete "
                                           "and unaltered; otherwise name each session and its first bad record");
    add_db_option(v, args->db);
    v->add_option("ID", args->ids, "Session ids or unique prefixes (default: every session, or those in --since/--until)");
    v->add_option("--public-key", args->public_keys,
                  "Also check each head's Ed25519 signatures with this public key (PEM: the public half of the key `record` "
                  "or `collect` signs with); repeatable: every node's key and the collector's. Each signature whose key "
                  "is given must verify, and each session must carry one of them")
        ->type_name("FILE")
        ->allow_extra_args(false);
    v->add_option("--since", args->since, "Sessions running at or after this time (RFC 3339, or relative like 2h)");
    v->add_option("--until", args->until, "Sessions started before this time");
    v->add_option("--exported", args->exported,
                  "Also compare the store with the chain heads an export holds: JSON lines as `--export-jsonl` or "
                  "`execaudit export` wrote them (either style; give rotated files too); repeatable. A session whose head "
                  "differs from its exported one was rewritten after it left the node; one the export has and the store "
                  "holds neither as a session nor as a tombstone was removed")
        ->type_name("FILE")
        ->allow_extra_args(false);
    v->add_flag("-q,--quiet", args->quiet, "Print only the sessions that fail, and the summary");
    v->footer(
        "Each session's records (its start, every command, every terminal chunk with its gaps and resizes, and\n"
        "its end) form a SHA-256 chain; the head is stored when the session ends and signed with\n"
        "`record --signing-key`. docs/integrity.md defines the bytes and says what it does and does not prove.\n"
        "The session ledger (docs/retention.md) says which sessions were ever recorded: one deleted by a retention\n"
        "rule is listed as `deleted` with its rule (not a failure); one that is gone without a rule is REMOVED.\n"
        "Examples:\n"
        "In the cluster store a session is also sealed by the collector when it arrives intact: its head never\n"
        "changes afterwards, and with `collect --signing-key` it is countersigned (docs/cluster.md).\n"
        "Root on a node can rewrite what is stored there, signature and ledger included; the heads that left it (the\n"
        "SIEM's copy of the export, every session end carries its `chain`) it cannot: `--exported` compares with them.\n"
        "  execaudit verify --public-key /etc/execaudit/head-signing.pub --since 2160h\n"
        "  execaudit verify --exported /var/log/execaudit/export.jsonl --exported /var/log/execaudit/export.jsonl.1\n"
        "  execaudit verify --db postgresql://reader@db/execaudit --public-key collector.pub --public-key node-a.pub\n"
        "  execaudit verify 3f2a9c0d --db postgresql://reader@db/execaudit");
    commands.push_back({v, [args] { return run_verify(*args); }});
}

}  // namespace execaudit::cli
