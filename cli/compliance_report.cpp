#include "cli/compliance_report.h"

#include "common/text.h"
#include "common/time_format.h"

#include <fmt/format.h>

#include <algorithm>

namespace execaudit::cli {

ComplianceReport gather_report(storage::SessionReader& sessions, storage::RequestReader& requests, int64_t since_ns,
                               int64_t until_ns, const storage::HeadVerifier* key, storage::LedgerReader* ledger,
                               bool ledger_signed_with_key) {
    ComplianceReport r;
    r.since_ns = since_ns;
    r.until_ns = until_ns;
    r.generated_ns = wall_clock_ns();
    if (key) r.signing_key = key->key_id();
    storage::SessionFilter filter;
    filter.since_ns = since_ns;
    filter.until_ns = until_ns;
    auto found = sessions.list(filter);
    std::reverse(found.begin(), found.end());  // oldest first: a period reads forwards
    for (auto& s : found) {
        ReportSession e;
        auto check = storage::verify_session(sessions, s, key);
        e.integrity = check.verdict;
        e.integrity_detail = check.detail;
        for (const auto& c : sessions.commands(s.id)) {
            e.fileless_execs += c.exe_fileless;
            e.argv0_mismatches += storage::argv0_mismatch(c);
        }
        if (s.attribution == "unattributed") {
            ++r.unattributed;
            e.findings.push_back("unattributed: no API request for it (entered from the node, around the API server)");
        } else if (s.attribution == "ambiguous") {
            e.findings.push_back("ambiguous: several API requests fit it equally");
        }
        if (s.entered_via == "nsenter") {
            ++r.bypass;
            e.findings.push_back("bypass: entered with nsenter from the node");
        }
        if (!s.user_verified && s.user) e.findings.push_back("identity unverified (admission webhook without client certificates)");
        if (s.lost_bytes || s.lost_events) {
            ++r.with_loss;
            e.findings.push_back(fmt::format("loss: {} terminal bytes, {} records not recorded (gaps)", s.lost_bytes, s.lost_events));
        }
        if (e.fileless_execs) {
            ++r.fileless;
            e.findings.push_back(fmt::format("{} fileless exec{} (memfd or deleted file)", e.fileless_execs,
                                             e.fileless_execs == 1 ? "" : "s"));
        }
        if (e.argv0_mismatches) e.findings.push_back(fmt::format("{} exec{} whose argv[0] names another file", e.argv0_mismatches,
                                                                 e.argv0_mismatches == 1 ? "" : "s"));
        if (storage::integrity_failed(e.integrity)) {
            ++r.integrity_failed;
            e.findings.push_back(fmt::format("integrity {}: {}", storage::integrity_name(e.integrity), e.integrity_detail));
        }
        ++r.integrity[storage::integrity_name(e.integrity)];
        std::string user = s.user ? utf8_lossy(*s.user) : "(" + s.attribution + ")";
        // a row that stands for several runs counts each (the same commands each time)
        r.runs += s.runs;
        if (s.attribution == "kubelet") r.kubelet_runs += s.runs;
        r.by_user[user].sessions += s.runs;
        r.by_user[user].commands += s.commands * s.runs;
        std::string ns = s.namespace_name.empty() ? "(unknown)" : utf8_lossy(s.namespace_name);
        r.by_namespace[ns].sessions += s.runs;
        r.by_namespace[ns].commands += s.commands * s.runs;
        e.session = std::move(s);
        r.sessions.push_back(std::move(e));
    }
    if (ledger) {
        auto check = storage::verify_ledger(*ledger, ledger_signed_with_key ? key : nullptr, since_ns, until_ns);
        r.ledger_checked = true;
        for (auto& t : check.deleted) {
            if (t.cause == "folded") {
                ++r.folded_runs;  // counted by the row it was folded into
                continue;
            }
            r.deleted_by_size += t.cause == "size";
            r.deleted.push_back(std::move(t));
        }
        r.ledger_problems = std::move(check.problems);
        r.integrity_failed += r.ledger_problems.size();
        for (const auto& p : r.ledger_problems) ++r.integrity[storage::integrity_name(p.verdict)];
    }
    storage::RequestFilter rf;
    rf.since_ns = since_ns;
    rf.until_ns = until_ns;
    rf.states = {"unrecorded"};
    r.unrecorded = requests.list(rf);
    rf.states = {"denied"};
    r.denied = requests.list(rf);
    std::reverse(r.unrecorded.begin(), r.unrecorded.end());
    std::reverse(r.denied.begin(), r.denied.end());
    return r;
}

}  // namespace execaudit::cli
