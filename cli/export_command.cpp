// `execaudit export`: sessions as records for SIEMs and other tools (docs/export.md): JSON lines,
// length-delimited protobuf, or syslog to a server; one session's terminal as asciicast v2.
#include "cli/command.h"
#include "cli/session_filter_options.h"
#include "common/errors.h"
#include "common/file_mode.h"
#include "export/asciicast_format.h"
#include "export/export_record.h"
#include "export/jsonl_format.h"
#include "export/proto_format.h"
#include "export/syslog_destination.h"
#include "storage/read_store.h"

#include <ext/stdio_filebuf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

namespace execaudit::cli {
namespace {

struct ExportArgs {
    std::string db = default_db();
    std::string format = "jsonl";
    std::string session;
    SessionFilterArgs filters;
    bool follow = false;
    std::string syslog, syslog_ca, syslog_cert, syslog_key;
    bool ecs = false;
    bool with_input = false;
    bool raw = false;
    std::string output;
};

constexpr size_t kPage = 1000;

// Where records go: stdout or a file (jsonl, proto), or a syslog server.
class RecordSink {
public:
    RecordSink(const ExportArgs& a, std::ostream& out) : args_(a), out_(out) {
        style_ = a.ecs ? exporting::JsonStyle::ecs : exporting::JsonStyle::proto;
        if (a.syslog.empty()) return;
        syslog_ = std::make_unique<exporting::SyslogDestination>(exporting::syslog_options(
            "--syslog", a.syslog, {.ca_file = a.syslog_ca, .cert_file = a.syslog_cert, .key_file = a.syslog_key}, style_));
    }

    void open() {
        if (!syslog_) return;
        if (auto o = syslog_->open(); !o) throw RuntimeError(o.error());
    }

    void send(std::span<const v1::ExportRecord> records) {
        if (records.empty()) return;
        count_ += records.size();
        if (syslog_) {
            auto s = syslog_->send(records, static_cast<int64_t>(records.back().position()));
            if (s) s = syslog_->poll();
            if (!s) throw RuntimeError(fmt::format("{} (after {} records)", s.error(), count_));
            return;
        }
        for (const auto& r : records) {
            if (args_.format == "proto") out_ << exporting::length_delimited(r);
            else out_ << exporting::jsonl_line(r, style_);
        }
        out_.flush();
        if (!out_) throw RuntimeError("cannot write the records (disk full, or the reader went away)");
    }

    /// Proves delivery to a syslog server before returning (it closes after reading everything).
    void finish() {
        if (!syslog_) return;
        if (auto f = syslog_->finish(); !f)
            throw RuntimeError(fmt::format("{}: {} records may not have arrived", f.error(), count_));
        std::cerr << fmt::format("execaudit: {} records delivered to {}\n", count_, syslog_->name());
    }

private:
    const ExportArgs& args_;
    std::ostream& out_;
    exporting::JsonStyle style_;
    std::unique_ptr<exporting::SyslogDestination> syslog_;
    size_t count_ = 0;
};

// Which sessions the filters select. A session that did not match may match later (its user
// became known, it ran the command searched for): it is asked again, and once it matches, its
// earlier records are sent first, so every exported session is complete.
class SessionMatcher {
public:
    SessionMatcher(storage::SessionReader& store, storage::SessionFilter filter) : store_(store), filter_(std::move(filter)) {}
    bool matches(const std::string& session_id) {
        if (matched_.contains(session_id)) return true;
        if (not_matched_.contains(session_id)) return false;
        auto f = filter_;
        f.session_id = session_id;
        if (store_.list(f).empty()) {
            not_matched_.insert(session_id);
            return false;
        }
        matched_.insert(session_id);
        return true;
    }
    /// Sessions that did not match are asked again from now on.
    void recheck() { not_matched_.clear(); }

private:
    storage::SessionReader& store_;
    storage::SessionFilter filter_;
    std::set<std::string> matched_;
    std::set<std::string> not_matched_;
};

int run_export_records(const ExportArgs& a, storage::ReadStore& db, storage::SessionFilter filter, std::ostream& out) {
    auto& store = db.sessions();
    auto& outbox = db.outbox();
    exporting::RecordReader reader(store, db.requests());
    RecordSink sink(a, out);
    sink.open();
    SessionMatcher matcher(store, filter);
    std::set<std::string> sent_sessions;  // sessions whose records up to `position` went out
    std::optional<std::string> only = filter.session_id;
    bool session_ended = false;

    // One pass over new outbox entries; returns the last position read.
    auto pass = [&](int64_t position) {
        matcher.recheck();
        for (;;) {
            auto entries = outbox.after(position, kPage, only);
            if (entries.empty()) return position;
            reader.new_batch();
            std::vector<v1::ExportRecord> records;
            for (const auto& e : entries) {
                position = e.position;
                if (!matcher.matches(e.session_id)) continue;
                if (sent_sessions.insert(e.session_id).second && e.kind != storage::OutboxKind::session_start) {
                    // It matches only now: its earlier records first.
                    for (const auto& earlier : outbox.after(0, 1u << 30, e.session_id)) {
                        if (earlier.position >= e.position) break;
                        if (auto r = reader.read(earlier)) records.push_back(std::move(*r));
                    }
                }
                if (auto r = reader.read(e)) records.push_back(std::move(*r));
                if (e.kind == storage::OutboxKind::session_end) session_ended = true;
            }
            sink.send(records);
        }
    };

    int64_t position = pass(0);
    if (a.follow) {
        // Until interrupted, or (with --session) until the session ends.
        while (!(only && session_ended)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            position = pass(position);
        }
    }
    sink.finish();
    return 0;
}

int run_export(const ExportArgs& a) {
    bool asciicast = a.format == "asciicast";
    if (asciicast && a.session.empty())
        throw UsageError("--format asciicast exports one session's terminal: give --session ID");
    if (asciicast && (a.follow || !a.syslog.empty()))
        throw UsageError("--format asciicast writes a finished file; --follow and --syslog do not apply");
    if (a.with_input && !asciicast) throw UsageError("--with-input applies to --format asciicast only");
    if (a.raw && !asciicast) throw UsageError("--raw applies to --format asciicast only");
    if (!a.syslog.empty() && a.format != "jsonl")
        throw UsageError("--syslog sends RFC 5424 messages with JSON inside; --format does not apply");
    if (a.ecs && a.format != "jsonl") throw UsageError("--ecs applies to JSON lines (and --syslog) only");
    if (!a.syslog.empty() && !a.output.empty()) throw UsageError("--syslog and --output are exclusive");

    auto filter = to_session_filter(a.filters);
    auto db = storage::open_read_store(a.db);
    auto& store = db->sessions();
    std::optional<storage::SessionRecord> session;
    if (!a.session.empty()) {
        auto found = store.find(a.session);
        if (!found) throw UsageError(found.error());
        session = *found;
        filter.session_id = session->id;
    }

    // The file holds session contents: created 0600, whatever the umask.
    std::unique_ptr<__gnu_cxx::stdio_filebuf<char>> file_buf;
    std::ostream file(nullptr);
    if (!a.output.empty()) {
        UniqueFd fd = open_or_create(a.output, O_WRONLY | O_TRUNC, kPrivateFileMode);
        if (!fd) throw UsageError(fmt::format("--output: cannot write {}: {}", a.output, std::strerror(errno)));
        file_buf = std::make_unique<__gnu_cxx::stdio_filebuf<char>>(fd.release(), std::ios::out | std::ios::binary);
        file.rdbuf(file_buf.get());
    } else if (a.format == "proto" && a.syslog.empty() && isatty(STDOUT_FILENO)) {
        throw UsageError("--format proto is binary: redirect it to a file or give --output PATH");
    }
    std::ostream& out = a.output.empty() ? std::cout : file;

    if (asciicast) {
        if (!session->tty)
            throw UsageError(fmt::format("session {} has no terminal (a non-tty exec): there is no asciicast to export; "
                                         "its commands are in `execaudit export --session {}`", session->id, session->id));
        auto written = exporting::write_asciicast(store, *session, out, {.with_input = a.with_input, .raw = a.raw});
        out.flush();
        if (!written) throw RuntimeError(fmt::format("session {}: {}", session->id, written.error()));
        if (!out) throw RuntimeError("cannot write the asciicast");
        return 0;
    }
    return run_export_records(a, *db, filter, out);
}

}  // namespace

void add_export_command(CLI::App& app, Commands& commands) {
    auto args = std::make_shared<ExportArgs>();
    auto* ex = app.add_subcommand("export", "Sessions as records for SIEMs and other tools: JSON lines, protobuf, syslog; "
                                            "one session's terminal as asciicast");
    add_db_option(ex, args->db);
    ex->add_option("--format", args->format,
                   "jsonl: one JSON object per record (session start, each command, attribution, session end); "
                   "proto: the same records as length-delimited execaudit.v1.ExportRecord; "
                   "asciicast: one session's terminal, for asciinema play")
        ->check(CLI::IsMember({"jsonl", "proto", "asciicast"}))
        ->capture_default_str();
    ex->add_option("--session", args->session, "Only this session (id or unique prefix); required for asciicast")
        ->type_name("ID");
    add_session_filter_options(ex, args->filters);
    ex->add_flag("--follow,-f", args->follow,
                 "After what is recorded, stream new records as they are written (with --session: until it ends)");
    ex->add_option("--syslog", args->syslog,
                   "Send the records to a syslog server instead (RFC 5424, octet-counted): tcp://HOST:PORT or tls://HOST:PORT")
        ->type_name("URL");
    ex->add_option("--syslog-ca", args->syslog_ca, "CA certificates (PEM) for tls:// (default: the system's)")->type_name("FILE");
    ex->add_option("--syslog-cert", args->syslog_cert, "Client certificate (PEM) for tls://")->type_name("FILE");
    ex->add_option("--syslog-key", args->syslog_key, "Its private key (default: in the certificate file)")->type_name("FILE");
    ex->add_flag("--ecs", args->ecs, "Elastic Common Schema fields (process.args, user.name, ...) instead of execaudit.proto's");
    ex->add_flag("--with-input", args->with_input,
                 "asciicast: include what was typed as \"i\" events (typed with echo off, e.g. a password: masked)");
    ex->add_flag("--raw", args->raw,
                 "asciicast: keep every recorded byte, including what would act on the terminal that plays it "
                 "(clipboard and title sequences, DCS/APC/PM/SOS strings, terminal queries); removed by default");
    ex->add_option("--output,-o", args->output, "Write to this file instead of stdout")->type_name("PATH");
    ex->footer(
        "Records carry a stable record_id (<session>:start, <session>:command:<seq>, <session>:end,\n"
        "<session>:attributed:<n>) and come in the order the node committed them. Fields: docs/export.md.\n"
        "Examples:\n"
        "  execaudit export --since 24h > sessions.jsonl\n"
        "  execaudit export --namespace payments --follow --syslog tls://siem:6514 --syslog-ca ca.pem\n"
        "  execaudit export --format asciicast --session 3f2a9c0d -o session.cast && asciinema play session.cast\n"
        "For continuous, at-least-once export that survives restarts and outages, use\n"
        "`execaudit record --export-syslog URL` or `--export-jsonl PATH`.");
    commands.push_back({ex, [args] { return run_export(*args); }});
}

}  // namespace execaudit::cli
