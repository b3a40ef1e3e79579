// `execaudit report` through the real binary over a database written by the real writer: the
// counts and names an auditor checks, in every format; CSV parsed by Python's csv module, JSON by
// a JSON parser, HTML rendered by Debian's headless Chromium (its DOM and a screenshot).
#include "storage/retention.h"
#include "storage/store_writer.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"
#include "tests/support/stored_sessions.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <filesystem>

using namespace execaudit;
using namespace execaudit::testing;
using nlohmann::json;

namespace {

storage::ExecRequestRecord request(const std::string& id, const std::string& user, const std::string& state,
                                   const std::string& pod, int64_t at) {
    storage::ExecRequestRecord r;
    r.id = id + "/k";
    r.audit_id = id;
    r.source = "audit";
    r.kind = "exec";
    r.verb = "create";
    r.namespace_name = "shop";
    r.pod = pod;
    r.container = "app";
    r.command = {"/bin/bash"};
    r.requester.user = user;
    r.response_code = state == "denied" ? 403 : 101;
    r.received_ns = at;
    r.state = state;
    r.updated_ns = at;
    return r;
}

class Report : public ::testing::Test {
protected:
    void SetUp() override {
        storage::StoreWriter w(storage::Database::open(db_, storage::Database::Mode::read_write), {});
        // alice: two sessions in shop; bob: one in payments; one nobody asked for (nsenter); one
        // with a fileless exec and loss; one outside the period
        auto session = [&](const std::string& id, int64_t at, const std::string& ns, const std::string& user,
                           const std::string& via, int commands, bool fileless, uint64_t lost) {
            auto s = sample_session(id, at);
            s.namespace_name = ns;
            s.entered_via = via;
            w.submit(storage::WriteSession{s});
            for (int i = 0; i < commands; ++i) {
                auto c = sample_command(s, static_cast<uint32_t>(i), {"/bin/echo", "=cmd(" + std::to_string(i) + ")"});
                c.exe_fileless = fileless && i == 0;
                w.submit(storage::WriteCommand{c});
            }
            if (user.empty()) {
                w.submit(storage::WriteAttribution{.session_id = id, .attribution = "unattributed"});
            } else {
                auto r = request("req-" + id, user, "matched", s.pod, at);
                r.session_id = id;
                w.submit(storage::WriteExecRequest{r});
                w.submit(storage::WriteAttribution{.session_id = id, .attribution = "audit", .request_id = r.id,
                                                   .audit_id = r.audit_id, .requester = r.requester});
            }
            s.status = "ended";
            s.end_ns = at + 30 * kSecondNs;
            s.exit_code = 0;
            s.commands = static_cast<uint32_t>(commands);
            s.lost_bytes = lost;
            s.lost_events = lost ? 1 : 0;
            w.submit(storage::WriteSession{s});
        };
        session("a11ce00000000001", kT0Ns, "shop", "alice", "runc", 3, false, 0);
        session("a11ce00000000002", kT0Ns + 3600 * kSecondNs, "shop", "alice", "runc", 2, false, 0);
        session("b0b0000000000003", kT0Ns + 7200 * kSecondNs, "payments", "bob, \"the admin\"", "runc", 1, true, 4096);
        session("0dd0000000000004", kT0Ns + 9000 * kSecondNs, "shop", "", "nsenter", 4, false, 0);
        session("01d0000000000005", kT0Ns - 400 * 24 * 3600 * kSecondNs, "shop", "carol", "runc", 1, false, 0);
        w.submit(storage::WriteExecRequest{request("req-unrec", "mallory", "unrecorded", "web-2", kT0Ns + 100 * kSecondNs)});
        w.submit(storage::WriteExecRequest{request("req-deny", "eve", "denied", "web-3", kT0Ns + 200 * kSecondNs)});
        w.flush();
    }

    RunResult report(std::vector<std::string> extra) {
        std::vector<std::string> args = {execaudit_bin(), "report", "--db", db_, "--since", since_, "--until", until_};
        args.insert(args.end(), extra.begin(), extra.end());
        return run(args);
    }

    TempDir dir_;
    std::string db_ = dir_.file("s.db");
    std::string since_ = "2024-10-29T00:00:00Z", until_ = "2024-10-30T00:00:00Z";
};

TEST_F(Report, JsonHasTheRightCountsAndNames) {
    auto r = report({"--format", "json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(r.out);
    EXPECT_EQ(j["report"]["since"], "2024-10-29T00:00:00.000000Z");
    EXPECT_EQ(j["report"]["source"], db_);
    EXPECT_FALSE(j["report"]["generated"].get<std::string>().empty());
    ASSERT_EQ(j["sessions"].size(), 4u) << j.dump(2);  // carol's is outside the period
    EXPECT_EQ(j["sessions"][0]["id"], "a11ce00000000001");  // oldest first
    EXPECT_EQ(j["sessions"][0]["user"], "alice");
    EXPECT_EQ(j["sessions"][0]["integrity"]["status"], "intact");
    EXPECT_EQ(j["findings"]["unattributed_sessions"], 1);
    EXPECT_EQ(j["findings"]["unrecorded_requests"], 1);
    EXPECT_EQ(j["findings"]["denied_requests"], 1);
    EXPECT_EQ(j["findings"]["sessions_with_loss"], 1);
    EXPECT_EQ(j["findings"]["bypass_entries"], 1);
    EXPECT_EQ(j["findings"]["sessions_with_fileless_execs"], 1);
    EXPECT_EQ(j["findings"]["integrity_failures"], 0);
    std::map<std::string, std::pair<int, int>> users;
    for (const auto& u : j["per_user"]) users[u["user"]] = {u["sessions"], u["commands"]};
    EXPECT_EQ(users["alice"], std::make_pair(2, 5));
    EXPECT_EQ(users["(unattributed)"], std::make_pair(1, 4));
    std::map<std::string, int> namespaces;
    for (const auto& n : j["per_namespace"]) namespaces[n["namespace"]] = n["sessions"];
    EXPECT_EQ(namespaces, (std::map<std::string, int>{{"payments", 1}, {"shop", 3}}));
    EXPECT_EQ(j["unrecorded_requests"][0]["user"], "mallory") << j["unrecorded_requests"].dump();
    EXPECT_EQ(j["denied_requests"][0]["user"], "eve") << j["denied_requests"].dump();
}

TEST_F(Report, CsvParsesWithPythonsCsvAndIsSafeInASpreadsheet) {
    EA_REQUIRE(missing_program("python3"));
    std::string file = dir_.file("r.csv");
    auto r = report({"--format", "csv", "-o", file});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto py = run({"python3", "-c",
                   "import csv, json, sys\n"
                   "rows = list(csv.DictReader(open(sys.argv[1], newline='')))\n"
                   "print(json.dumps(rows))\n",
                   file});
    ASSERT_EQ(py.exit_code, 0) << py.err;
    json rows = json::parse(py.out);
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[2]["user"], "bob, \"the admin\"");  // a comma and quotes survive
    EXPECT_EQ(rows[2]["fileless_execs"], "1");
    EXPECT_EQ(rows[2]["lost_bytes"], "4096");
    EXPECT_EQ(rows[3]["attribution"], "unattributed");
    EXPECT_EQ(rows[3]["entered_via"], "nsenter");
    EXPECT_NE(rows[3]["findings"].get<std::string>().find("unattributed"), std::string::npos);
    EXPECT_EQ(rows[0]["integrity"], "intact");
    EXPECT_EQ(rows[0]["report_since"], "2024-10-29T00:00:00.000000Z");
    for (const auto& row : rows)
        for (const auto& [k, v] : row.items())
            EXPECT_TRUE(v.get<std::string>().empty() || std::string("=+-@").find(v.get<std::string>()[0]) == std::string::npos)
                << k << " starts a formula: " << v;
}

TEST_F(Report, MarkdownNamesEverything) {
    auto r = report({});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* want : {"# execaudit compliance report", "| Unattributed sessions", "a11ce00000000001", "0dd0000000000004",
                             "mallory", "eve", "| alice | 2 | 5 |", "| payments | 1 | 1 |"})
        EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
    EXPECT_EQ(r.out.find("01d0000000000005"), std::string::npos);
    auto bad = run({execaudit_bin(), "report", "--db", db_});
    EXPECT_EQ(bad.exit_code, 2) << bad.err;  // --since is required
}

TEST_F(Report, HtmlIsOneFileChromiumRenders) {
    EA_REQUIRE(missing_program("chromium"));
    std::string file = dir_.file("r.html");
    auto r = report({"--format", "html", "-o", file});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::string html = read_file(file);
    EXPECT_EQ(html.find("http://"), std::string::npos) << "must not load anything";
    EXPECT_EQ(html.find("https://"), std::string::npos);
    EXPECT_NE(html.find("@media print"), std::string::npos);
    EXPECT_NE(html.find("bob, &quot;the admin&quot;"), std::string::npos);
    std::string profile = dir_.file("chromium-profile");
    std::vector<std::string> chromium = {"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + profile};
    auto dom_args = chromium;
    dom_args.insert(dom_args.end(), {"--dump-dom", "file://" + file});
    auto dom = run(dom_args, 120s);
    ASSERT_EQ(dom.exit_code, 0) << dom.err;
    for (const char* want : {"Findings", "a11ce00000000001", "0dd0000000000004", "mallory", "Sessions per namespace"})
        EXPECT_NE(dom.out.find(want), std::string::npos) << want;
    std::string png = dir_.file("r.png");
    auto shot_args = chromium;
    shot_args.insert(shot_args.end(), {"--screenshot=" + png, "--window-size=1280,1600", "file://" + file});
    auto shot = run(shot_args, 120s);
    ASSERT_EQ(shot.exit_code, 0) << shot.err;
    ASSERT_GT(std::filesystem::file_size(png), 10000u);  // a page was drawn, not a blank
    std::string pdf = dir_.file("r.pdf");
    auto print_args = chromium;
    print_args.insert(print_args.end(), {"--print-to-pdf=" + pdf, "--no-pdf-header-footer", "file://" + file});
    auto printed = run(print_args, 120s);
    ASSERT_EQ(printed.exit_code, 0) << printed.err;
    EXPECT_GT(std::filesystem::file_size(pdf), 10000u);
    if (const char* keep = std::getenv("EXECAUDIT_KEEP_REPORT_RENDER")) {
        std::filesystem::copy_file(png, std::string(keep) + ".png", std::filesystem::copy_options::overwrite_existing);
        std::filesystem::copy_file(pdf, std::string(keep) + ".pdf", std::filesystem::copy_options::overwrite_existing);
    }
}

// The kubelet's folded runs (docs/kubelet-execs.md, "Folded runs") through the real binary: the
// report counts runs, not rows; verify counts them as deleted by policy, one line per row, and
// fails once a folded run's tombstone is gone; the table has a RUNS column.
TEST(FoldedRuns, ReportCountsRunsAndVerifyVouchesForEachOne) {
    TempDir dir;
    std::string db = dir.file("s.db");
    {
        storage::StoreWriter w(storage::Database::open(db, storage::Database::Mode::read_write), {});
        for (int i = 0; i < 5; ++i) {
            auto s = sample_session(fmt::format("b0be{:012x}", i), kT0Ns + i * 10 * kSecondNs, {"/bin/cat", "/tmp/healthy"});
            s.tty = false;
            w.submit(storage::WriteSession{s});
            w.submit(storage::WriteCommand{sample_command(s, 0, s.command)});
            s.status = "ended";
            s.end_ns = s.start_ns + 5'000'000;
            s.exit_code = 0;
            s.commands = 1;
            s.kubelet = storage::KubeletCheck{.kubelet = true, .entered_via = "probe", .name = "liveness"};
            w.submit(storage::WriteSession{s});
            w.submit(storage::WriteAttribution{.session_id = s.id, .attribution = "kubelet", .entered_via = "probe"});
        }
        w.flush();
    }
    {
        storage::Retention r(db, {}, nullptr, {.pause = std::chrono::milliseconds(0)});
        ASSERT_EQ(r.run_pass(kT0Ns + storage::kDayNs).folded, 4u);
    }
    auto rep = run({execaudit_bin(), "report", "--db", db, "--since", "2024-10-29T00:00:00Z", "--until", "2024-10-30T00:00:00Z",
                    "--format", "json"});
    ASSERT_EQ(rep.exit_code, 0) << rep.err;
    json j = json::parse(rep.out);
    EXPECT_EQ(j["sessions"].size(), 1u);
    EXPECT_EQ(j["runs"], 5);
    EXPECT_EQ(j["kubelet_runs"], 5);
    EXPECT_EQ(j["folded_runs"], 4);
    EXPECT_EQ(j["per_user"][0]["sessions"], 5) << j["per_user"].dump();
    EXPECT_TRUE(j["deleted_sessions"].empty()) << "folded runs are counted by their row, not listed as deletions";
    EXPECT_EQ(j["findings"]["integrity_failures"], 0);
    auto md = run({execaudit_bin(), "report", "--db", db, "--since", "2024-10-29T00:00:00Z", "--until", "2024-10-30T00:00:00Z"});
    EXPECT_NE(md.out.find("5 sessions in the period (5 of them the kubelet's probe and hook runs, 4 folded into the rows that "
                          "count them)"),
              std::string::npos)
        << md.out;

    auto table = run({execaudit_bin(), "sessions", "--db", db, "--entered-via", "probe"});
    EXPECT_NE(table.out.find("RUNS"), std::string::npos) << table.out;
    auto v = run({execaudit_bin(), "verify", "--db", db});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_NE(v.out.find("b0be000000000000  folded     4 later kubelet runs folded into this row"), std::string::npos) << v.out;
    EXPECT_NE(v.out.find("4 kubelet runs folded into the rows that count them (tombstones intact)"), std::string::npos) << v.out;
    {
        auto d = storage::Database::open(db, storage::Database::Mode::read_write);
        d.exec("DELETE FROM session_tombstones WHERE session_id = 'b0be000000000002'");
    }
    v = run({execaudit_bin(), "verify", "--db", db});
    EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
    EXPECT_NE(v.err.find("b0be000000000002  REMOVED"), std::string::npos) << v.err;
}

}  // namespace
