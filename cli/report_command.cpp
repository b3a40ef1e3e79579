// `execaudit report`: a period's compliance report (cli/compliance_report.h) as Markdown, CSV,
// JSON or self-contained HTML, to stdout or a file created 0600.
#include "cli/command.h"
#include "cli/compliance_report.h"
#include "cli/session_filter_options.h"
#include "common/errors.h"
#include "common/file_mode.h"
#include "common/time_format.h"
#include "storage/read_store.h"

#include <ext/stdio_filebuf.h>
#include <fcntl.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <iostream>

namespace execaudit::cli {
namespace {

struct ReportArgs {
    std::string db = default_db();
    std::string since, until;
    std::string format = "md";
    std::string output;
    std::vector<std::string> public_keys;
};

int run_report(const ReportArgs& a) {
    auto range = to_time_range(a.since, a.until);
    int64_t until = range.until_ns.value_or(wall_clock_ns());
    std::optional<storage::HeadVerifier> key;
    if (!a.public_keys.empty()) key = storage::HeadVerifier::from_pem_files(a.public_keys);
    auto db = storage::open_read_store(a.db);
    auto report = gather_report(db->sessions(), db->requests(), *range.since_ns, until, key ? &*key : nullptr, db->ledger(),
                                db->ledger_signed_by_recorder());
    report.source = db->label();
    report.since_text = a.since;
    report.until_text = a.until;

    // The report names people and what they ran: a file it creates is 0600, whatever the umask.
    std::unique_ptr<__gnu_cxx::stdio_filebuf<char>> file_buf;
    std::ostream file(nullptr);
    if (!a.output.empty()) {
        UniqueFd fd = open_or_create(a.output, O_WRONLY | O_TRUNC, kPrivateFileMode);
        if (!fd) throw UsageError(fmt::format("--output: cannot write {}: {}", a.output, std::strerror(errno)));
        file_buf = std::make_unique<__gnu_cxx::stdio_filebuf<char>>(fd.release(), std::ios::out | std::ios::binary);
        file.rdbuf(file_buf.get());
    }
    std::ostream& out = a.output.empty() ? std::cout : file;
    if (a.format == "csv") write_report_csv(out, report);
    else if (a.format == "json") write_report_json(out, report);
    else if (a.format == "html") write_report_html(out, report);
    else write_report_markdown(out, report);
    out.flush();
    if (!out) throw RuntimeError("cannot write the report");
    return 0;
}

}  // namespace

void add_report_command(CLI::App& app, Commands& commands) {
    auto args = std::make_shared<ReportArgs>();
    auto* r = app.add_subcommand("report", "Compliance report for a period: sessions per user and namespace, each session "
                                           "with who, when, where, commands, exit code, attribution and integrity, and the findings");
    add_db_option(r, args->db);
    r->add_option("--since", args->since, "Start of the period (RFC 3339, or relative like 2160h)")->required();
    r->add_option("--until", args->until, "End of the period (default: now)");
    r->add_option("--format", args->format, "md, csv, json or html (one self-contained file, for screen and print)")
        ->check(CLI::IsMember({"md", "csv", "json", "html"}))
        ->capture_default_str();
    r->add_option("-o,--output", args->output, "Write to this file (created 0600) instead of stdout")->type_name("PATH");
    r->add_option("--public-key", args->public_keys,
                  "Check each session head's signatures with this Ed25519 public key (PEM); repeatable: the nodes' keys "
                  "and the collector's")
        ->type_name("FILE")
        ->allow_extra_args(false);
    r->footer("Findings: unattributed sessions, allowed requests with no session (unrecorded), denied requests, loss and\n"
              "gaps, nsenter entries, fileless execs, sessions that fail integrity verification.\n"
              "Examples:\n"
              "  execaudit report --since 2026-07-01T00:00:00Z --until 2026-10-01T00:00:00Z --format html -o q3.html\n"
              "  execaudit report --since 720h --format csv -o sessions.csv --public-key head.pub");
    commands.push_back({r, [args] { return run_report(*args); }});
}

}  // namespace execaudit::cli
