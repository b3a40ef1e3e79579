// docs/cli.md is the user-facing reference: every flag `--help` shows is documented under its
// subcommand, and every flag in its tables exists. A flag added without docs fails here, by name.
#include "tests/support/environment.h"
#include "tests/support/process.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

using namespace execaudit::testing;

namespace {

std::set<std::string> flags_in(const std::string& text, bool table_rows_only) {
    std::set<std::string> out;
    std::regex flag(R"((^|[\s,`(])(--[a-z0-9][a-z0-9-]*[a-z0-9]|-[a-z])(?=[\s,`=.)]|$))");
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (table_rows_only && line.rfind("|", 0) != 0) continue;
        if (!table_rows_only && line.rfind("  -", 0) != 0) continue;  // --help's option lines
        for (auto it = std::sregex_iterator(line.begin(), line.end(), flag); it != std::sregex_iterator(); ++it)
            out.insert((*it)[2]);
    }
    return out;
}

std::string section(const std::string& doc, const std::string& subcommand) {
    std::regex heading("\n## `execaudit " + subcommand + "[ `]");
    std::smatch m;
    if (!std::regex_search(doc, m, heading)) return "";
    size_t from = m.position(0) + 1;
    size_t to = doc.find("\n## ", from);
    return doc.substr(from, to == std::string::npos ? std::string::npos : to - from);
}

std::vector<std::string> subcommands() {
    auto help = run({execaudit_bin(), "--help"});
    std::vector<std::string> out;
    std::istringstream in(help.out.substr(help.out.find("Subcommands:")));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line) && line.rfind("  ", 0) == 0) {
        std::istringstream words(line);
        std::string name;
        words >> name;
        out.push_back(name);
    }
    return out;
}

TEST(CliDoc, EveryFlagOfEverySubcommandIsDocumented) {
    std::string doc = read_file(source_dir() + "/docs/cli.md");
    ASSERT_FALSE(doc.empty());
    size_t g = doc.find("\n## Global flags");
    ASSERT_NE(g, std::string::npos) << "no \"## Global flags\" in docs/cli.md";
    auto global = flags_in(doc.substr(g, doc.find("\n## ", g + 1) - g), true);
    EXPECT_TRUE(global.count("--log-level") && global.count("--help-all")) << "no global flags table";
    auto names = subcommands();
    ASSERT_GE(names.size(), 7u);
    for (const auto& sub : names) {
        std::string text = section(doc, sub);
        ASSERT_FALSE(text.empty()) << "docs/cli.md has no section \"## `execaudit " << sub << "`\"";
        if (sub == "help") continue;  // `help SUBCOMMAND`: no flags of its own
        auto documented = flags_in(text, true);
        auto help = run({execaudit_bin(), "help", sub});
        ASSERT_EQ(help.exit_code, 0) << help.err;
        for (const auto& f : flags_in(help.out, false))
            EXPECT_TRUE(documented.count(f) || global.count(f)) << "`execaudit " << sub << " " << f << "` is not in docs/cli.md";
        for (const auto& f : documented)
            EXPECT_NE(help.out.find(f), std::string::npos) << "docs/cli.md documents `execaudit " << sub << " " << f
                                                           << "`, which --help does not show";
    }
}

}  // namespace
