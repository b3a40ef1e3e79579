// The command-line contract (docs/cli.md), exercised through the real binary.
#include "storage/io_frames.h"
#include "storage/store_writer.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"
#include "tests/support/stored_sessions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <set>
#include <sstream>

using namespace execaudit;
using namespace execaudit::testing;

namespace {

class CliTest : public ::testing::Test {
protected:
    void SetUp() override {
        storage::StoreWriter writer(storage::Database::open(db_, storage::Database::Mode::read_write), {});
        storage::SessionRecord s = sample_session("0123456789abcdef", 1'730'204'504'189'258'000);
        s.node = "node-1";
        s.cgroup_id = 9;
        s.leader_pid = 4242;
        s.rows = 10;
        s.cols = 40;
        s.end_ns = s.start_ns + 2'000'000;
        s.status = "ended";
        s.exit_code = 0;
        writer.submit(storage::WriteSession{s});
        storage::CommandRecord c;
        c.session_id = s.id;
        c.argv = {"printf", "\x1b]0;owned\x07"};
        c.time_ns = s.start_ns;
        c.retval = 0;
        writer.submit(storage::WriteCommand{c});
        // hostile output: a title change, a full reset, binary, then normal text
        storage::ChunkEncoder enc;
        enc.add_bytes(0, storage::FrameKind::output, "first screen\r\n");
        enc.add_bytes(10, storage::FrameKind::output, std::string("\x1b]0;owned\x07\x1b" "c\x00\xff\xfe", 13));
        enc.add_bytes(20, storage::FrameKind::output, "$ whoami\r\nroot\r\n");
        storage::ChunkRecord chunk;
        chunk.session_id = s.id;
        chunk.frames = enc.frames();
        chunk.frames_data = enc.take();
        writer.submit(storage::WriteChunk{chunk});
        writer.flush();
    }

    RunResult ea(std::vector<std::string> args) {
        args.insert(args.begin(), execaudit_bin());
        return run(args);
    }

    TempDir dir_;
    std::string db_ = dir_.file("s.db");
};

TEST_F(CliTest, HelpTeaches) {
    auto r = ea({"--help"});
    EXPECT_EQ(r.exit_code, 0);
    for (const char* sub : {"record", "trace", "sessions", "show", "play"}) EXPECT_NE(r.out.find(sub), std::string::npos) << sub;
    auto h = ea({"help", "sessions"});
    EXPECT_EQ(h.exit_code, 0);
    EXPECT_NE(h.out.find("--since"), std::string::npos);
    EXPECT_NE(h.out.find("--unattributed"), std::string::npos);
    auto rec = ea({"record", "--help"});
    EXPECT_EQ(rec.exit_code, 0);
    EXPECT_NE(rec.out.find("--cgroup-root"), std::string::npos);
}

TEST_F(CliTest, BadInputIsOneLineAndExitTwo) {
    std::vector<std::vector<std::string>> cases = {
        {"sessions", "--bogus"},
        {"sessions", "--db", dir_.file("missing.db")},
        {"sessions", "--db", db_, "--since", "last tuesday"},
        {"sessions", "--db", db_, "--format", "xml"},
        {"show", "ffffffff", "--db", db_},
        {"show", "zz", "--db", db_},
        {"play", "0123", "--db", db_, "--speed", "100"},
        {"play", "0123", "--db", db_, "--cat", "--start", "soon"},
        {"play", "0123", "--db", db_, "--cat", "--start", "1h"},     // past the end
        {"play", "0123", "--db", db_},                               // no terminal here
        {"sessions", "--db", db_, "--pick"},                         // no terminal here
        {"sessions", "--db", db_, "--since", "1h", "--until", "2h"},  // an empty range is a mistake
        {"audit-events", "--db", db_, "--since", "1h", "--until", "2h"},
        {"audit-events", "--db", db_, "--until", "yesterday-ish"},
        {"help", "nope"},
        {},
    };
    for (const auto& args : cases) {
        auto r = ea(args);
        EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << ::testing::PrintToString(args) << r.err;
        EXPECT_TRUE(r.out.empty());
    }
}

TEST_F(CliTest, SessionsInEveryFormat) {
    auto table = ea({"sessions", "--db", db_});
    EXPECT_EQ(table.exit_code, 0) << table.err;
    EXPECT_NE(table.out.find("0123456789abcdef"), std::string::npos);
    EXPECT_NE(table.out.find("shop/web"), std::string::npos);

    auto json = ea({"sessions", "--db", db_, "--format", "json"});
    ASSERT_EQ(json.exit_code, 0);
    auto arr = nlohmann::json::parse(json.out);
    ASSERT_EQ(arr.size(), 1u);
    const auto& s = arr[0];
    for (const char* key : {"id", "node", "namespace", "pod", "pod_uid", "container", "container_id", "cgroup_id",
                            "leader_pid", "tty", "command", "start", "end", "status", "exit_code", "attribution", "user",
                            "groups", "source_ips", "user_agent", "audit_id", "commands", "output_bytes", "input_bytes",
                            "lost_bytes", "lost_events"})
        EXPECT_TRUE(s.contains(key)) << key;
    EXPECT_FALSE(s.contains("timeline"));
    EXPECT_EQ(s["start"], "2024-10-29T12:21:44.189258Z");
    EXPECT_EQ(s["end"], "2024-10-29T12:21:44.191258Z");
    EXPECT_TRUE(s["user"].is_null());
    EXPECT_EQ(s["leader_pid"], 4242);

    auto csv = ea({"sessions", "--db", db_, "--format", "csv"});
    ASSERT_EQ(csv.exit_code, 0);
    EXPECT_EQ(csv.out.substr(0, 3), "id,");
    EXPECT_NE(csv.out.find("0123456789abcdef,node-1,shop,web"), std::string::npos);

    auto none = ea({"sessions", "--db", db_, "--namespace", "other", "--format", "json"});
    EXPECT_EQ(nlohmann::json::parse(none.out).size(), 0u);
}

TEST_F(CliTest, ShowNeverPrintsRawEscapes) {
    auto r = ea({"show", "0123", "--db", db_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
    EXPECT_EQ(r.out.find('\x07'), std::string::npos);
    EXPECT_NE(r.out.find("printf \\e]0;owned\\x07"), std::string::npos) << r.out;
    auto j = nlohmann::json::parse(ea({"show", "0123", "--db", db_, "--format", "json"}).out);
    ASSERT_EQ(j["timeline"].size(), 1u);
    EXPECT_EQ(j["timeline"][0]["argv"][1], "\x1b]0;owned\x07");  // JSON escapes it; the value is exact
}

TEST_F(CliTest, PlayCatRendersThroughTheEmulator) {
    auto r = ea({"play", "0123456789abcdef", "--db", db_, "--cat"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "$ whoami\nroot\n");  // ESC c reset the screen; no escape reaches stdout
}

}  // namespace

namespace {

TEST_F(CliTest, PlayWithoutATerminalSaysWhatToDoInstead) {
    auto r = ea({"play", "0123", "--db", db_});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("needs a terminal"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--cat"), std::string::npos) << r.err;
}

TEST_F(CliTest, PlayHelpTeachesTheKeys) {
    auto r = ea({"play", "--help"});
    ASSERT_EQ(r.exit_code, 0);
    for (const char* text : {"--speed", "--idle-limit", "--start", "--cat", "--paused", "space", "pause / resume",
                             "next / previous command", "search the output", "idle compression", "quit"})
        EXPECT_NE(r.out.find(text), std::string::npos) << text;
}

TEST_F(CliTest, PlayCatAtAPosition) {
    auto first = ea({"play", "0123", "--db", db_, "--cat", "--start", "0"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    EXPECT_EQ(first.out, "first screen\n");
    auto last = ea({"play", "0123", "--db", db_, "--cat", "--start", "0.000020"});
    ASSERT_EQ(last.exit_code, 0) << last.err;
    EXPECT_EQ(last.out, ea({"play", "0123", "--db", db_, "--cat"}).out);  // the end: the final screen
}

}  // namespace

// Outputs are safe by default (issue 12): hostile argv, user and pod names, and a tampered database.
namespace {

// An OSC 52 clipboard write, a BEL, a C1 CSI (U+009B) and a spreadsheet formula.
const std::string kHostile = "=HYPERLINK(\"http://x\")\x1b]52;c;b3duZWQ=\x07\xc2\x9b" "31m";

// For JSON: also DEL, SOH, and C1 controls at both ends of the range.
const std::string kHostileJson = kHostile + std::string("\x7f\x01\xc2\x80\xc2\x9f\x1b[c", 9);

std::string hex(const std::string& s) {
    std::string out;
    for (unsigned char c : s) out += fmt::format("{:02x}", c);
    return out;
}

// Raw ESC, BEL, a C1 control (as UTF-8 or as a lone byte): anything a terminal could act on.
bool has_raw_control(const std::string& out) {
    for (size_t i = 0; i < out.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(out[i]);
        if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
        if (c == 0xc2 && i + 1 < out.size() && static_cast<unsigned char>(out[i + 1]) < 0xa0) return true;
        if (c >= 0x80 && c < 0xa0 && (i == 0 || static_cast<unsigned char>(out[i - 1]) < 0xc0)) {
            // a continuation byte is fine inside a multi-byte sequence; a lone one is not
            if (i == 0 || static_cast<unsigned char>(out[i - 1]) < 0x80) return true;
        }
    }
    return false;
}

class HostileOutputTest : public CliTest {
protected:
    void SetUp() override {
        CliTest::SetUp();
        storage::StoreWriter writer(storage::Database::open(db_, storage::Database::Mode::read_write), {});
        storage::SessionRecord s = sample_session("feedface00000000", 1'730'204'504'189'258'000,
                                                  {"sh", "-c", kHostile, "@SUM(1+1)*cmd|' /C calc'!A0"});
        s.namespace_name = "shop";
        s.pod = kHostile;
        s.container = "+" + kHostile;
        s.user = "-" + kHostile;
        s.attribution = "audit";
        s.end_ns = s.start_ns + 1000;
        s.status = "ended";
        writer.submit(storage::WriteSession{s});
        storage::CommandRecord c;
        c.session_id = s.id;
        c.argv = {"printf", kHostileJson};
        c.time_ns = s.start_ns;
        writer.submit(storage::WriteCommand{c});
        storage::ChunkEncoder enc;
        enc.add_bytes(0, storage::FrameKind::output, kHostileJson + "\r\n");
        storage::ChunkRecord chunk;
        chunk.session_id = s.id;
        chunk.frames = enc.frames();
        chunk.frames_data = enc.take();
        writer.submit(storage::WriteChunk{chunk});
        storage::ExecRequestRecord r;
        r.id = "req-hostile";
        r.source = "audit";
        r.kind = "exec";
        r.state = "matched";
        r.namespace_name = "shop";
        r.pod = kHostile;
        r.container = "\t" + kHostile;
        r.command = {"sh", "-c", kHostile};
        r.requester.user = " =" + kHostile;
        r.received_ns = s.start_ns;
        r.session_id = s.id;
        writer.submit(storage::WriteExecRequest{r});
        writer.flush();
    }

    // Writes hostile bytes into columns, past the schema's CHECKs: a tampered database.
    void tamper(const std::string& sql) {
        auto r = run({"sqlite3", db_, "PRAGMA ignore_check_constraints=ON; " + sql});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    std::string hostile_text(const std::string& prefix) { return "CAST(x'" + hex(prefix + kHostile) + "' AS TEXT)"; }
};

void expect_safe_csv(const std::string& csv) {
    EXPECT_FALSE(has_raw_control(csv)) << csv;
    // no cell starts (after spaces, inside or outside quotes) with a formula character
    size_t start = 0;
    while (start < csv.size()) {
        size_t end = csv.find('\n', start);
        std::string line = csv.substr(start, end - start);
        start = end == std::string::npos ? csv.size() : end + 1;
        bool in_quotes = false;
        bool cell_start = true;
        for (char c : line) {
            if (cell_start && (c == ' ' || c == '"')) {
                if (c == '"') in_quotes = true;
                continue;
            }
            if (cell_start) {
                EXPECT_EQ(std::string("=+-@\t\r").find(c), std::string::npos) << "formula cell in: " << line;
                cell_start = false;
            }
            if (c == '"') in_quotes = !in_quotes;
            else if (c == ',' && !in_quotes) cell_start = true;
        }
    }
}

TEST_F(HostileOutputTest, SessionsCsvNeutralizesFormulasAndEscapesControls) {
    auto csv = ea({"sessions", "--db", db_, "--format", "csv"});
    ASSERT_EQ(csv.exit_code, 0) << csv.err;
    expect_safe_csv(csv.out);
    EXPECT_NE(csv.out.find("'=HYPERLINK(\"\"http://x\"\")\\e]52;c;b3duZWQ=\\x07\\u009b31m"), std::string::npos) << csv.out;
    EXPECT_NE(csv.out.find(",0,"), std::string::npos);  // plain numbers stay numbers
}

TEST_F(HostileOutputTest, RequestsCsvNeutralizesFormulasAndEscapesControls) {
    auto csv = ea({"audit-events", "--db", db_, "--format", "csv"});
    ASSERT_EQ(csv.exit_code, 0) << csv.err;
    expect_safe_csv(csv.out);
    EXPECT_NE(csv.out.find("req-hostile"), std::string::npos) << csv.out;
}

TEST_F(HostileOutputTest, CsvCellsFromATamperedDatabase) {
    tamper("UPDATE sessions SET id = " + hostile_text("feed") + ", status = " + hostile_text("@") +
           ", pod_uid = " + hostile_text("") + ", container_id = " + hostile_text("-") +
           ", attribution = " + hostile_text("") + " WHERE id = 'feedface00000000';"
           "UPDATE exec_requests SET id = " + hostile_text("") + ", source = " + hostile_text("") +
           ", kind = " + hostile_text("+") + ", state = " + hostile_text("") + ", session_id = " + hostile_text("") + ";");
    auto sessions = ea({"sessions", "--db", db_, "--format", "csv"});
    ASSERT_EQ(sessions.exit_code, 0) << sessions.err;
    expect_safe_csv(sessions.out);
    auto requests = ea({"audit-events", "--db", db_, "--format", "csv"});
    ASSERT_EQ(requests.exit_code, 0) << requests.err;
    expect_safe_csv(requests.out);
}

TEST_F(HostileOutputTest, TablesEscapeEveryColumnOfATamperedDatabase) {
    tamper("UPDATE sessions SET id = " + hostile_text("feed") + ", status = " + hostile_text("") +
           ", pod_uid = " + hostile_text("") + ", container_id = " + hostile_text("") +
           ", attribution = " + hostile_text("") + " WHERE id = 'feedface00000000';"
           "UPDATE exec_requests SET id = " + hostile_text("") + ", kind = " + hostile_text("") +
           ", state = " + hostile_text("") + ", session_id = " + hostile_text("") + ";");
    auto list = ea({"sessions", "--db", db_});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    EXPECT_FALSE(has_raw_control(list.out)) << list.out;
    EXPECT_NE(list.out.find("feed=HYPERLINK"), std::string::npos) << list.out;
    auto show = ea({"show", "feed", "--db", db_});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    EXPECT_FALSE(has_raw_control(show.out)) << show.out;
    auto requests = ea({"audit-events", "--db", db_});
    ASSERT_EQ(requests.exit_code, 0) << requests.err;
    EXPECT_FALSE(has_raw_control(requests.out)) << requests.out;
    // a session whose pod name is gone: the table falls back to the (tampered) pod UID
    tamper("UPDATE sessions SET pod = '' WHERE id LIKE 'feed%';");
    auto by_uid = ea({"sessions", "--db", db_});
    EXPECT_FALSE(has_raw_control(by_uid.out)) << by_uid.out;
    auto play = ea({"play", "feed", "--db", db_, "--cat"});
    EXPECT_FALSE(has_raw_control(play.err)) << play.err;
}

// Every string anywhere in a JSON document.
void strings_of(const nlohmann::json& j, std::set<std::string>& out) {
    if (j.is_string()) out.insert(j.get<std::string>());
    if (j.is_object())
        for (const auto& [k, v] : j.items()) {
            out.insert(k);
            strings_of(v, out);
        }
    if (j.is_array())
        for (const auto& v : j) strings_of(v, out);
}

// No raw control a terminal could act on; every document parses back to the exact hostile strings.
void expect_safe_json(const std::string& what, const std::string& text, const std::vector<std::string>& documents,
                      const std::vector<std::string>& expected) {
    EXPECT_FALSE(has_raw_control(text)) << what << ": " << text;
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << what;
    EXPECT_EQ(text.find('\x07'), std::string::npos) << what;
    EXPECT_EQ(text.find("\xc2\x9b"), std::string::npos) << what;
    EXPECT_EQ(text.find('\x7f'), std::string::npos) << what;
    EXPECT_NE(text.find("\\u009b"), std::string::npos) << what << ": C1 written as \\u009b";
    std::set<std::string> strings;
    for (const auto& d : documents) strings_of(nlohmann::json::parse(d), strings);
    for (const auto& e : expected) EXPECT_TRUE(strings.contains(e)) << what << " lacks " << ::testing::PrintToString(e);
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

TEST_F(HostileOutputTest, JsonOutputsEscapeC0DelAndC1AndParseBackExactly) {
    tamper("UPDATE sessions SET attribution = 'audit', user = " + hostile_text("-") + " WHERE id = 'feedface00000000';");
    auto list = ea({"sessions", "--db", db_, "--format", "json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    expect_safe_json("sessions --format json", list.out, {list.out}, {kHostile, "+" + kHostile, "-" + kHostile});
    auto show = ea({"show", "feed", "--db", db_, "--format", "json"});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    expect_safe_json("show --format json", show.out, {show.out}, {kHostile, "-" + kHostile, kHostileJson});
    auto requests = ea({"audit-events", "--db", db_, "--format", "json"});
    ASSERT_EQ(requests.exit_code, 0) << requests.err;
    expect_safe_json("audit-events --format json", requests.out, {requests.out}, {kHostile, "\t" + kHostile, " =" + kHostile});
    auto jsonl = ea({"export", "--db", db_, "--session", "feed"});
    ASSERT_EQ(jsonl.exit_code, 0) << jsonl.err;
    expect_safe_json("export", jsonl.out, lines_of(jsonl.out), {kHostile, "-" + kHostile, kHostileJson});
    auto ecs = ea({"export", "--db", db_, "--session", "feed", "--ecs"});
    ASSERT_EQ(ecs.exit_code, 0) << ecs.err;
    expect_safe_json("export --ecs", ecs.out, lines_of(ecs.out), {kHostile, "-" + kHostile, kHostileJson});
}

TEST_F(HostileOutputTest, AsciicastEscapesC0DelAndC1) {
    tamper("UPDATE sessions SET attribution = 'audit', user = " + hostile_text("-") + " WHERE id = 'feedface00000000';");
    auto cast = ea({"export", "--db", db_, "--session", "feed", "--format", "asciicast"});
    ASSERT_EQ(cast.exit_code, 0) << cast.err;
    auto lines = lines_of(cast.out);
    ASSERT_GE(lines.size(), 2u) << cast.out;
    expect_safe_json("export --format asciicast", cast.out, lines, {});
    EXPECT_NE(nlohmann::json::parse(lines[0])["title"].get<std::string>().find("-" + kHostile), std::string::npos) << lines[0];
}

// What asciinema play would write to the analyst's terminal: the "o" events' data, joined.
std::string cast_output(const std::string& cast) {
    std::string out;
    auto lines = lines_of(cast);
    for (size_t i = 1; i < lines.size(); ++i) {
        auto e = nlohmann::json::parse(lines[i]);
        if (e[1] == "o") out += e[2].get<std::string>();
    }
    return out;
}

TEST_F(HostileOutputTest, AsciicastRemovesWhatActsOnTheTerminalUnlessRaw) {
    auto cast = ea({"export", "--db", db_, "--session", "feed", "--format", "asciicast"});
    ASSERT_EQ(cast.exit_code, 0) << cast.err;
    // OSC 52 and the DA query gone; the C1 APC (U+009F) removed to the ESC that ends it; the
    // C1 SGR (U+009B 31m) and the other characters kept
    EXPECT_EQ(cast_output(cast.out), "=HYPERLINK(\"http://x\")\xc2\x9b" "31m\x7f\x01\xc2\x80\r\n");
    auto raw = ea({"export", "--db", db_, "--session", "feed", "--format", "asciicast", "--raw"});
    ASSERT_EQ(raw.exit_code, 0) << raw.err;
    expect_safe_json("export --format asciicast --raw", raw.out, lines_of(raw.out), {kHostileJson + "\r\n"});
    EXPECT_EQ(cast_output(raw.out), kHostileJson + "\r\n");
    auto not_asciicast = ea({"export", "--db", db_, "--raw"});
    EXPECT_EQ(not_asciicast.exit_code, 2);
    EXPECT_NE(not_asciicast.err.find("--raw applies to --format asciicast only"), std::string::npos) << not_asciicast.err;
}

}  // namespace
