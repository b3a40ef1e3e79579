// `--config FILE` (cli/config_file.h) through the real binary: `record --print-config` shows what a
// file and the flags resolve to without starting the agent, so these run unprivileged.
#include "cli/config_file.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>

using namespace execaudit;
using namespace execaudit::testing;

namespace {

class ConfigFileTest : public ::testing::Test {
protected:
    std::string write(const std::string& text, const std::string& name = "config.yaml") {
        std::string path = dir_.file(name);
        std::ofstream(path) << text;
        return path;
    }
    RunResult record(std::vector<std::string> args) {
        args.insert(args.begin(), {execaudit_bin(), "record"});
        return run(args);
    }
    /// The keys `--print-config` sets (uncommented lines), as key -> value text.
    static std::map<std::string, std::string> set_keys(const std::string& printed) {
        std::map<std::string, std::string> out;
        std::istringstream in(printed);
        for (std::string line; std::getline(in, line);) {
            if (line.empty() || line[0] == '#') continue;
            auto colon = line.find(": ");
            if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 2);
        }
        return out;
    }
    /// A bad file: exit 2, one line on stderr naming the file and line, containing `expect`.
    void expect_refused(const std::string& text, int line, const std::string& expect, std::vector<std::string> extra = {}) {
        std::string path = write(text);
        std::vector<std::string> args = {"--config", path, "--print-config"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto r = record(args);
        EXPECT_EQ(r.exit_code, 2) << text << "\n" << r.out;
        EXPECT_TRUE(r.out.empty()) << r.out;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_NE(r.err.find(path + ":" + std::to_string(line) + ": "), std::string::npos) << "no " << path << ":" << line << " in: " << r.err;
        EXPECT_NE(r.err.find(expect), std::string::npos) << "no '" << expect << "' in: " << r.err;
    }

    TempDir dir_;
};

TEST_F(ConfigFileTest, EveryFlagOfRecordIsAKey) {
    auto help = record({"--help"});
    ASSERT_EQ(help.exit_code, 0) << help.err;
    auto printed = record({"--print-config"});
    ASSERT_EQ(printed.exit_code, 0) << printed.err;
    std::regex flag(R"(^\s+--([a-z0-9-]+))");
    std::set<std::string> flags;
    std::istringstream in(help.out);
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_search(line, m, flag)) flags.insert(m[1]);
    }
    ASSERT_GT(flags.size(), 20u) << help.out;
    for (const auto& f : flags) {
        if (f == "help" || f == "help-all" || f == "config" || f == "print-config") {
            EXPECT_EQ(printed.out.find("\n# " + f + ":"), std::string::npos) << f << " must not be a key";
            continue;
        }
        EXPECT_NE(printed.out.find(f + ":"), std::string::npos) << "--" << f << " is not a key of --print-config:\n" << printed.out;
    }
    // The root's --log-level is a key too (the agent's log level from the ConfigMap).
    EXPECT_NE(printed.out.find("# log-level:"), std::string::npos) << printed.out;
}

TEST_F(ConfigFileTest, RoundTripsThroughPrintConfig) {
    auto first = record({"--db", "/var/lib/x/s.db", "--cgroup-root", "/kubepods.slice", "--cgroup-root", "/kube pods/odd:name",
                         "--audit-skew", "3.5", "--ring-buffer-mb", "32", "--ecs", "--export-jsonl", "/var/log/x \"quoted\".jsonl",
                         "--metrics", "0.0.0.0:9090", "--node-name", "#not-a-comment", "--print-config"});
    ASSERT_EQ(first.exit_code, 0) << first.err;
    auto keys = set_keys(first.out);
    EXPECT_EQ(keys["ring-buffer-mb"], "32");
    EXPECT_EQ(keys["ecs"], "true");
    EXPECT_NE(keys["cgroup-root"].find("/kubepods.slice"), std::string::npos) << keys["cgroup-root"];

    auto second = record({"--config", write(first.out), "--print-config"});
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_EQ(second.out, first.out);  // the same settings, however they were given
    EXPECT_EQ(set_keys(second.out).size(), keys.size());
}

TEST_F(ConfigFileTest, FlagsOverrideTheFileAndListsAreLists) {
    std::string path = write("audit-skew: 5\naudit-grace: 30\ncgroup-root:\n  - /a\n  - /b\necs: yes\n");
    auto r = record({"--config", path, "--audit-skew", "1", "--print-config"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto keys = set_keys(r.out);
    EXPECT_EQ(keys["audit-skew"], "1");
    EXPECT_EQ(keys["audit-grace"], "30");
    EXPECT_EQ(keys["cgroup-root"], "[/a, /b]");
    EXPECT_EQ(keys["ecs"], "true");
    // A repeatable flag given on the command line replaces the file's list, it does not add to it.
    r = record({"--config", path, "--cgroup-root", "/c", "--print-config"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(set_keys(r.out)["cgroup-root"], "[/c]");
    // ecs: false turns a flag off.
    r = record({"--config", write("ecs: false\n"), "--print-config"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(set_keys(r.out)["ecs"], "false");
}

TEST_F(ConfigFileTest, TheRootsLogLevelIsAKey) {
    auto r = record({"--config", write("log-level: debug\n"), "--print-config"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(set_keys(r.out)["log-level"], "debug");
}

TEST_F(ConfigFileTest, EmptyFileSetsNothing) {
    auto r = record({"--config", write("# nothing yet\n"), "--print-config"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(set_keys(r.out).empty()) << r.out;
}

TEST_F(ConfigFileTest, UnknownKeysNameTheKeyAndLine) {
    expect_refused("audit-skew: 2\nring-bufer-mb: 8\n", 2, "unknown key 'ring-bufer-mb'");
    expect_refused("--audit-skew: 2\n", 1, "unknown key '--audit-skew'");
    expect_refused("\n\nhelp: true\n", 3, "unknown key 'help'");
    expect_refused("config: other.yaml\n", 1, "unknown key 'config'");
    expect_refused("print-config: true\n", 1, "unknown key 'print-config'");
    // a key from another subcommand (export's --format) is not one of record's
    expect_refused("format: jsonl\n", 1, "unknown key 'format'");
    // what came from the file is escaped before it reaches the terminal
    expect_refused("\"bad\\e]0;owned\\a\": 1\n", 1, "unknown key '");
    auto r = record({"--config", write("\"bad\\e]0;owned\\a\": 1\n"), "--print-config"});
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
}

TEST_F(ConfigFileTest, BadValuesNameTheKeyAndLine) {
    expect_refused("db: /x\nring-buffer-mb: 5000\n", 2, "bad value for key 'ring-buffer-mb'");
    expect_refused("audit-skew: soon\n", 1, "bad value for key 'audit-skew'");
    expect_refused("audit-grace: -1\n", 1, "bad value for key 'audit-grace'");
    expect_refused("log-level: loud\n", 1, "bad value for key 'log-level'");
    expect_refused("ecs: maybe\n", 1, "bad value for key 'ecs'");
    expect_refused("ecs: [true]\n", 1, "bad value for key 'ecs'");
    expect_refused("audit-skew: [1, 2]\n", 1, "bad value for key 'audit-skew'");
    expect_refused("metrics:\n", 1, "key 'metrics' has no value");
    expect_refused("metrics: {addr: 1}\n", 1, "key 'metrics': a value or a list of values, not a mapping");
    expect_refused("cgroup-root: []\n", 1, "key 'cgroup-root' has an empty list");
    expect_refused("cgroup-root:\n  - /a\n  - [nested]\n", 3, "a list holds plain values only");
    expect_refused("audit-skew: 1\naudit-skew: 2\n", 2, "key 'audit-skew' appears twice (first on line 1)");
    expect_refused("[1, 2]: x\n", 1, "a key is a flag name");
    expect_refused("- db: /x\n", 1, "a config file is a mapping");
    expect_refused("db: /x\n  bad: indent: here\n", 2, "not valid YAML");
    // A bad value in the file is an error even when the command line overrides it: the file is wrong.
    expect_refused("ring-buffer-mb: 5000\n", 1, "bad value for key 'ring-buffer-mb'", {"--ring-buffer-mb", "8"});
}

TEST_F(ConfigFileTest, RetentionPerNamespaceIsAMapping) {
    auto r = record({"--config", write("retention-days: 90\nretention-namespace: {prod-*: 400, kube-system: forever}\n"),
                     "--print-config"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto keys = set_keys(r.out);
    EXPECT_EQ(keys["retention-days"], "90");
    EXPECT_NE(keys["retention-namespace"].find("prod-*=400"), std::string::npos) << r.out;
    EXPECT_NE(keys["retention-namespace"].find("kube-system=forever"), std::string::npos) << r.out;
    auto again = record({"--config", write(r.out, "again.yaml"), "--print-config"});  // and it reads back
    EXPECT_EQ(again.out, r.out) << again.err;
    expect_refused("retention-days: 9\nretention-namespace: {prod-*: 0}\n", 2, "DAYS is a whole number");
    expect_refused("retention-namespace: [prod-*]\n", 1, "no GLOB=DAYS");
    expect_refused("max-db-size: ten\n", 1, "--max-db-size ten");
    expect_refused("ring-buffer-mb: {a: 1}\n", 1, "not a mapping");  // only NAME=VALUE flags take one
}

TEST_F(ConfigFileTest, MissingFileIsAUsageError) {
    auto r = record({"--config", dir_.file("nope.yaml"), "--print-config"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("nope.yaml: cannot read it"), std::string::npos) << r.err;
}

TEST_F(ConfigFileTest, SomethingHugeIsNotASettingsFile) {
    auto r = record({"--config", write(std::string(2 << 20, '#')), "--print-config"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("larger than 1 MiB"), std::string::npos) << r.err;
}

TEST_F(ConfigFileTest, PasswordsInUrlsAreNotPrinted) {
    auto r = record({"--export-syslog", "tls://user:s3cret@siem.example:6514", "--print-config"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find("s3cret"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("tls://user:***@siem.example:6514"), std::string::npos) << r.out;
}

TEST(ConfigYaml, EntriesKeepTheirLines) {
    auto entries = cli::parse_config_yaml("# c\na: 1\nb:\n  - x\n  - y\nc: \"q: r\"\n", "f");
    ASSERT_EQ(entries.size(), 3u);
    EXPECT_EQ(entries[0].key, "a");
    EXPECT_EQ(entries[0].line, 2);
    EXPECT_EQ(entries[1].values, (std::vector<std::string>{"x", "y"}));
    EXPECT_TRUE(entries[1].list);
    EXPECT_EQ(entries[1].line, 3);
    EXPECT_EQ(entries[2].values, (std::vector<std::string>{"q: r"}));
}

}  // namespace
