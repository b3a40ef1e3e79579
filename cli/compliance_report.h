#pragma once
// `execaudit report`: what an auditor asks for a period (SOC 2 CC6/CC7, PCI DSS 10.x, ISO 27001
// A.8.15): who entered which containers, what they did, whether the records are complete and
// unaltered, and the findings. Gathered once through the read interface (either store), then
// written as Markdown, CSV, JSON or one self-contained HTML file (cli/report_formats.cpp).

#include "storage/chain_verify.h"
#include "storage/readers.h"
#include "storage/session_ledger.h"

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace execaudit::cli {

struct ReportSession {
    storage::SessionRecord session;
    storage::Integrity integrity = storage::Integrity::intact;
    std::string integrity_detail;
    uint64_t fileless_execs = 0;  ///< commands whose executable had no name in any directory
    uint64_t argv0_mismatches = 0;
    std::vector<std::string> findings;  ///< what an auditor should look at, in words
};

struct Tally {
    uint64_t sessions = 0, commands = 0;
};

struct ComplianceReport {
    // its own parameters
    std::string since_text, until_text;
    int64_t since_ns = 0, until_ns = 0;
    int64_t generated_ns = 0;
    std::string source;         ///< the store, without a password
    std::string signing_key;    ///< the key signatures were checked with; empty: not checked
    std::vector<ReportSession> sessions;  ///< oldest first
    std::map<std::string, Tally> by_user, by_namespace;
    std::vector<storage::ExecRequestRecord> unrecorded, denied;
    std::map<std::string, uint64_t> integrity;  ///< verdict name -> sessions
    uint64_t unattributed = 0, with_loss = 0, bypass = 0, fileless = 0, integrity_failed = 0;
    /// Deleted by retention in the period (their tombstones), and the sessions the ledger says are
    /// gone without a rule (counted in integrity_failed).
    std::vector<storage::TombstoneRecord> deleted;
    uint64_t deleted_by_size = 0;  ///< deleted before their retention ended, to stay within the size bounds
    /// Runs, not rows (docs/kubelet-execs.md, "Folded runs"): a row that stands for N runs counts N
    /// sessions in the tallies. The kubelet's runs of the period, and how many of them were folded
    /// into an earlier row (their tombstones, cause folded, are not listed as deletions).
    uint64_t runs = 0, kubelet_runs = 0, folded_runs = 0;  ///< deleted before their retention ended, to stay within the size bounds
    std::vector<storage::LedgerFinding> ledger_problems;
    bool ledger_checked = false;
};

/// Reads every session in [since, until) and the requests of the period; verifies each chain.
/// `ledger`: the store's session ledger (null where it keeps none): deletions and removals.
ComplianceReport gather_report(storage::SessionReader& sessions, storage::RequestReader& requests, int64_t since_ns,
                               int64_t until_ns, const storage::HeadVerifier* key, storage::LedgerReader* ledger = nullptr,
                               bool ledger_signed_with_key = true);

void write_report_markdown(std::ostream& out, const ComplianceReport& r);
/// RFC 4180: one row per session, the findings as columns, the report's parameters on every row.
void write_report_csv(std::ostream& out, const ComplianceReport& r);
/// Sessions and requests in execaudit.proto's JSON form, with the tallies and findings.
void write_report_json(std::ostream& out, const ComplianceReport& r);
/// One file, no external resources, for the screen and for print.
void write_report_html(std::ostream& out, const ComplianceReport& r);

}  // namespace execaudit::cli
