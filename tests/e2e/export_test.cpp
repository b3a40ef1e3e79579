// Export end to end: the real recorder records real exec sessions (containerd + runc) and
// exports them while rsyslogd (a real peer) is killed and restarted, while the recorder itself
// is killed and restarted; the asciicast of a real session plays in asciinema.
#include "replay/terminal_screen.h"
#include "tests/support/rsyslog.h"
#include "tests/support/node_test.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "execaudit.pb.h"

using namespace execaudit::testing;
using nlohmann::json;

namespace {

class ExportEndToEnd : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"rsyslogd"}; }

    void start_recorder(std::vector<std::string> extra) { recorder_ = std::make_unique<Recorder>(*bed_, db_, extra); }

    /// What the database holds, as `execaudit export` prints it: the records that must arrive.
    std::vector<std::string> expected_ids() {
        auto r = run({execaudit_bin(), "export", "--db", db_});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return jsonl_record_ids(r.out);
    }

    /// As many distinct records arrived as `expected` holds (a record may arrive twice).
    static bool all_distinct_arrived(const Rsyslog& rs, const std::vector<std::string>& expected) {
        std::set<std::string> ids;
        for (const auto& m : rs.received()) ids.insert(m.record_id);
        return ids.size() >= expected.size();
    }

    /// Every expected record arrived; nothing arrived that was not expected; a record that
    /// arrived twice is the same record (same id, same kind, same time).
    static void expect_all_arrived(const std::vector<SyslogReceived>& got, const std::vector<std::string>& expected) {
        std::map<std::string, std::vector<const SyslogReceived*>> by_id;
        for (const auto& m : got) by_id[m.record_id].push_back(&m);
        for (const auto& id : expected) EXPECT_TRUE(by_id.contains(id)) << "lost: " << id;
        std::set<std::string> want(expected.begin(), expected.end());
        size_t duplicates = 0;
        for (const auto& [id, copies] : by_id) {
            EXPECT_TRUE(want.contains(id)) << "unexpected record " << id;
            for (const auto* c : copies) {
                EXPECT_EQ(c->record["kind"], copies.front()->record["kind"]);
                EXPECT_EQ(c->record["time"], copies.front()->record["time"]);
            }
            duplicates += copies.size() - 1;
        }
        std::cerr << got.size() << " messages, " << by_id.size() << " distinct records, " << duplicates << " duplicates\n";
    }
};

TEST_F(ExportEndToEnd, EverySessionReachesRsyslogThroughAnOutage) {
    Rsyslog rs({});
    std::string jsonl = dir_.file("records.jsonl");
    start_recorder({"--export-syslog", rs.url(), "--export-syslog-settle-ms", "1000", "--export-jsonl", jsonl,
                    "--export-jsonl-max-bytes", "16384", "--export-jsonl-keep", "99"});
    PtyProcess shell(bed_->exec_tty(container_, "alice-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
    ASSERT_TRUE(run_in(shell, "/bin/echo before"));
    // A stream of commands for ~8 s: rsyslog dies in the middle of it and comes back.
    shell.type("for i in $(seq 1 80); do /bin/echo tick-$i; /bin/sleep 0.1; done; echo lo''op-done\r");
    std::this_thread::sleep_for(2500ms);
    rs.kill(SIGKILL);
    std::this_thread::sleep_for(2500ms);  // commands keep coming; the exporter retries with backoff
    rs.start();
    ASSERT_TRUE(shell.wait_for("loop-done", 60s));
    PtyProcess second(bed_->exec_tty(container_, "bob-1", {"/bin/sh"}), 24, 80);  // a session during catch-up
    ASSERT_TRUE(second.wait_for("# ", 20s));
    second.type("exit 3\r");
    ASSERT_EQ(second.wait(20s), 3);
    shell.type("exit\r");
    ASSERT_EQ(shell.wait(20s), 0);

    // (Seen once on the shared machine: a SIGTERM from outside the test stopped the recorder here.)
    ASSERT_TRUE(recorder_->process().running()) << "the recorder stopped during the test:\n" << recorder_->log();
    // The writer commits a little behind the sessions: wait until the database has both ends.
    ASSERT_TRUE(eventually([&] {
        auto sessions = list_sessions(db_);
        return sessions.size() == 2u && sessions[0]["status"] == "ended" && sessions[1]["status"] == "ended";
    }, 30s)) << list_sessions(db_).dump(2) << recorder_->log();
    // The recorder keeps running: everything arrives without a restart.
    std::vector<std::string> expected = expected_ids();
    ASSERT_GE(expected.size(), 2u + 2u + 2u + 160u + 2u);  // starts, ends, shells, 80 x (echo, sleep), ...
    ASSERT_TRUE(eventually([&] { return all_distinct_arrived(rs, expected); }, 60s)) << recorder_->log() << rs.log();
    ASSERT_EQ(recorder_->stop(), 0);
    // What the database holds once the recorder has stopped is what must have arrived.
    expected = expected_ids();
    expect_all_arrived(rs.received(), expected);
    std::string log = recorder_->log();
    EXPECT_NE(log.find("export to syslog " + rs.url() + ": connected again"), std::string::npos) << log;

    // The JSON lines file, rotated on the way: every line parses and round-trips through
    // protobuf's own JSON parser; together they hold every record.
    std::vector<std::string> lines;
    for (int i = 99; i >= 0; --i) {
        std::istringstream in(read_file(i ? jsonl + "." + std::to_string(i) : jsonl));
        for (std::string line; std::getline(in, line);) lines.push_back(line);
    }
    EXPECT_TRUE(std::ifstream(jsonl + ".1").good());  // it did rotate
    std::set<std::string> in_file;
    for (const auto& line : lines) {
        execaudit::v1::ExportRecord r;
        auto status = google::protobuf::util::JsonStringToMessage(line, &r);
        ASSERT_TRUE(status.ok()) << status.ToString() << "\n" << line;
        in_file.insert(r.record_id());
    }
    for (const auto& id : expected) EXPECT_TRUE(in_file.contains(id)) << id;
}

TEST_F(ExportEndToEnd, ARecorderKilledMidExportLosesNothingOverTls) {
    EA_REQUIRE(missing_program("openssl"));  // the certificates
    Rsyslog rs({.tls = true});
    rs.kill(SIGTERM);  // the SIEM is down while the first recorder runs: a backlog builds up
    std::vector<std::string> tls = {"--export-syslog", rs.url(), "--export-syslog-ca", rs.ca_file(),
                                    "--export-syslog-cert", rs.client_cert(), "--export-syslog-key", rs.client_key()};
    start_recorder(tls);
    PtyProcess shell(bed_->exec_tty(container_, "carol-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(run_in(shell, "/bin/echo backlog-" + std::to_string(i)));
    // the exporter has tried and failed, and the commands are committed: a backlog in the database
    ASSERT_TRUE(eventually([&] {
        if (recorder_->log().find("records wait in the database") == std::string::npos) return false;
        json list = list_sessions(db_);
        if (list.size() != 1) return false;
        json shown = show_session(db_, list[0]["id"]);
        for (const auto& c : shown["timeline"])
            if (c["argv"] == json::array({"/bin/echo", "backlog-4"})) return true;
        return false;
    }, 30s)) << list_sessions(db_).dump(2) << "\n" << recorder_->log();
    recorder_->process().signal(SIGKILL);  // no flush, no drain: the cursor is all that survives
    ASSERT_TRUE(recorder_->process().wait(10s));

    rs.start();
    start_recorder(tls);  // continues the killed recorder's session (the kernel state is pinned), then catches up
    shell.type("exit\r");
    shell.wait(20s);
    auto expected = expected_ids();
    ASSERT_TRUE(eventually([&] { return all_distinct_arrived(rs, expected); }, 60s)) << recorder_->log() << rs.log();
    ASSERT_EQ(recorder_->stop(), 0);
    // What the database holds once the recorder has stopped is what must have arrived.
    expected = expected_ids();
    auto got = rs.received();
    expect_all_arrived(got, expected);
    bool saw_command = false, saw_end = false;
    for (const auto& m : got) {
        if (m.msgid == "command" && m.record["command"]["argv"] == json::array({"/bin/echo", "backlog-4"})) saw_command = true;
        if (m.msgid == "session_end") saw_end = m.record["session"]["status"] == "ended";
    }
    EXPECT_TRUE(saw_command);
    EXPECT_TRUE(saw_end);

    // A restart sends nothing again: the cursor was confirmed and saved. The new recorder's
    // exporter starts with nothing waiting, and what it sends is only a new session's records
    // (which show that it is running and sending).
    size_t before = got.size();
    std::set<std::string> sent_before;
    for (const auto& m : got) sent_before.insert(m.record_id);
    start_recorder(tls);
    ASSERT_TRUE(eventually([&] { return recorder_->log().find("starting after record") != std::string::npos; }, 10s)) << recorder_->log();
    EXPECT_NE(recorder_->log().find("(0 records waiting)"), std::string::npos) << recorder_->log();
    PtyProcess sentinel(bed_->exec_tty(container_, "erin-1", {"/bin/sh"}), 24, 80);
    ASSERT_TRUE(sentinel.wait_for("# ", 20s));
    sentinel.type("exit 4\r");
    ASSERT_EQ(sentinel.wait(20s), 4);
    auto new_session_end = [&] {
        auto now = rs.received();
        for (size_t i = before; i < now.size(); ++i)
            if (now[i].msgid == "session_end" && !sent_before.contains(now[i].record_id)) return true;
        return false;
    };
    ASSERT_TRUE(eventually(new_session_end, 60s)) << recorder_->log() << rs.log();
    ASSERT_EQ(recorder_->stop(), 0);
    auto after = rs.received();
    ASSERT_GE(after.size(), before);
    for (size_t i = before; i < after.size(); ++i) EXPECT_FALSE(sent_before.contains(after[i].record_id)) << "sent again: " << after[i].record_id;
}

TEST_F(ExportEndToEnd, AsciicastPlaysInAsciinemaAndMatchesPlayCat) {
    EA_REQUIRE(missing_program("asciinema"));
    start_recorder({});
    PtyProcess shell(bed_->exec_tty(container_, "dave-1", {"/bin/bash", "--norc"}), 30, 100);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    ASSERT_TRUE(run_in(shell, "printf 'caf\\303\\251 \\342\\202\\254 \\033[1;31mred\\033[0m\\n'"));
    ASSERT_TRUE(run_in(shell, "seq 1 3000 | tail -5"));
    ASSERT_TRUE(run_in(shell, "head -c 2000 /dev/urandom | od -c | head -3"));
    shell.type("exit\r");
    ASSERT_EQ(shell.wait(20s), 0);
    ASSERT_EQ(recorder_->stop(), 0);
    json sessions = list_sessions(db_);
    ASSERT_EQ(sessions.size(), 1u);
    std::string id = sessions[0]["id"];

    std::string cast = dir_.file("session.cast");
    auto exported = run({execaudit_bin(), "export", "--db", db_, "--format", "asciicast", "--session", id, "-o", cast});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    // The exec client sizes the tty once the shell runs: under load the shell has printed before,
    // so the session may start at another geometry (or none) and the client's 100x30 comes as a
    // resize. Drawn as an asciicast v2 player draws it (the header's geometry, then "r" events),
    // the cast must show exactly the screen `play --cat` shows, and end at the client's size.
    std::istringstream in(read_file(cast));
    std::string line;
    std::getline(in, line);
    json header = json::parse(line);
    EXPECT_EQ(header["version"], 2);
    execaudit::replay::TerminalScreen screen(header["height"].get<int>(), header["width"].get<int>());
    std::string output;  // the "o" data: what a player writes to the terminal
    while (std::getline(in, line)) {
        json e = json::parse(line);
        if (e[1] == "o") {
            output += e[2].get<std::string>();
            screen.feed(e[2].get<std::string>());
        } else if (e[1] == "r") {
            std::string size = e[2];
            screen.resize(std::stoi(size.substr(size.find('x') + 1)), std::stoi(size));
        }
    }
    EXPECT_EQ(screen.cols(), 100);
    EXPECT_EQ(screen.rows(), 30);

    // asciinema reads the file and writes exactly that output (it reads its controlling terminal:
    // give it one; its output goes to a file).
    std::string printed = dir_.file("cat.out");
    PtyProcess cat({"/bin/sh", "-c", "asciinema cat " + cast + " > " + printed}, 30, 100);
    ASSERT_EQ(cat.wait(30s), 0) << cat.output();
    EXPECT_EQ(read_file(printed), output);
    std::string drawn;
    for (const auto& l : screen.text()) drawn += l + "\n";
    std::string played = play_cat(db_, id);
    EXPECT_EQ(drawn, played);
    EXPECT_NE(played.find("caf\xc3\xa9 \xe2\x82\xac red"), std::string::npos) << played;
    EXPECT_NE(played.find("2999\n3000"), std::string::npos) << played;
}

// The "o" events' data joined: what `asciinema play` writes to the analyst's terminal.
std::string cast_output(const std::string& cast) {
    std::istringstream in(cast);
    std::string line, out;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        json e = json::parse(line);
        if (e[1] == "o") out += e[2].get<std::string>();
    }
    return out;
}

TEST_F(ExportEndToEnd, AsciicastRemovesWhatActsOnTheAnalystsTerminalUnlessRaw) {
    EA_REQUIRE(missing_program("asciinema"));
    start_recorder({});
    PtyProcess shell(bed_->exec_tty(container_, "mallory-1", {"/bin/bash", "--norc"}), 24, 80);
    ASSERT_TRUE(shell.wait_for("# ", 20s));
    // A clipboard write, a title, DECRQSS (a DCS query), an APC, DA1, DA2 and DSR queries, a C1 OSC
    // title; then a colour that must survive. printf's octal escapes keep the typed line harmless.
    ASSERT_TRUE(run_in(shell, R"(printf '\033]52;c;b3duZWQ=\007\033]0;owned-title\007\033P$qm\033\\\033_apc\033\\')"));
    ASSERT_TRUE(run_in(shell, R"(printf '\033[c\033[>c\033[6n\302\2352;c1-title\007\033[1;32mgreen\033[0m\n')"));
    // Mouse tracking, focus events, bracketed paste, keypad mode, then the alternate screen with
    // the cursor hidden, as a session killed inside a full-screen program leaves them.
    ASSERT_TRUE(run_in(shell, R"(printf '\033[?1000;1006h\033[?1004h\033[?2004h\033=\033[?1049h\033[?25lin-vim\n')"));
    shell.type("exit\r");
    ASSERT_EQ(shell.wait(20s), 0);
    ASSERT_EQ(recorder_->stop(), 0);
    json sessions = list_sessions(db_);
    ASSERT_EQ(sessions.size(), 1u);
    std::string id = sessions[0]["id"];

    const std::vector<std::string> acting = {"\x1b]52;c;b3duZWQ=\x07", "\x1b]0;owned-title\x07", "\x1bP$qm\x1b\\",
                                             "\x1b_apc\x1b\\", "\x1b[c", "\x1b[>c", "\x1b[6n", "\xc2\x9d" "2;c1-title\x07"};
    std::string cast = dir_.file("session.cast");
    auto exported = run({execaudit_bin(), "export", "--db", db_, "--format", "asciicast", "--session", id, "-o", cast});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    std::string output = cast_output(read_file(cast));
    for (const auto& a : acting) EXPECT_EQ(output.find(a), std::string::npos) << ::testing::PrintToString(a);
    for (std::string_view introducer : {"\x1b]", "\x1bP", "\x1b_", "\xc2\x9d", "\xc2\x90", "\xc2\x9f"})
        EXPECT_EQ(output.find(introducer), std::string::npos) << ::testing::PrintToString(std::string(introducer));
    EXPECT_NE(output.find("\x1b[1;32mgreen\x1b[0m"), std::string::npos) << ::testing::PrintToString(output);
    for (std::string_view mode : {"\x1b[?1000", "1006h", "\x1b[?1004h", "\x1b[?2004h", "\x1b="})
        EXPECT_EQ(output.find(mode), std::string::npos) << ::testing::PrintToString(std::string(mode));
    EXPECT_NE(output.find("\x1b[?1049h"), std::string::npos);  // it draws: kept, and reset at the end
    EXPECT_TRUE(output.ends_with("\x1b[?1049l\x1b[?25h")) << ::testing::PrintToString(output);

    // What asciinema itself writes to a terminal from the file: none of it either.
    std::string printed = dir_.file("cat.out");
    PtyProcess cat({"/bin/sh", "-c", "asciinema cat " + cast + " > " + printed}, 24, 80);
    ASSERT_EQ(cat.wait(30s), 0) << cat.output();
    std::string shown = read_file(printed);
    for (const auto& a : acting) EXPECT_EQ(shown.find(a), std::string::npos) << ::testing::PrintToString(a);
    EXPECT_NE(shown.find("\x1b[1;32mgreen\x1b[0m"), std::string::npos);

    // --raw: every recorded byte, as it was.
    std::string raw_cast = dir_.file("raw.cast");
    auto raw = run({execaudit_bin(), "export", "--db", db_, "--format", "asciicast", "--session", id, "--raw", "-o", raw_cast});
    ASSERT_EQ(raw.exit_code, 0) << raw.err;
    std::string raw_output = cast_output(read_file(raw_cast));
    for (const auto& a : acting) EXPECT_NE(raw_output.find(a), std::string::npos) << ::testing::PrintToString(a);
    EXPECT_NE(raw_output.find("\x1b[?1000;1006h"), std::string::npos);
}

}  // namespace
