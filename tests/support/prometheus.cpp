#include "tests/support/prometheus.h"

#include "tests/support/process.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

namespace execaudit::testing {

void expect_prometheus_accepts(const std::string& body, const std::string& scratch_file) {
    { std::ofstream(scratch_file) << body; }
    auto check = run({"sh", "-c", "promtool check metrics < " + scratch_file});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err << "\n" << body;
    EXPECT_EQ(check.out + check.err, "") << "promtool's lint has remarks:\n" << check.out << check.err;
    std::istringstream in(body);
    std::set<std::string> described;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("# TYPE ", 0) == 0) described.insert(line.substr(7, line.find(' ', 7) - 7));
        if (line.empty() || line[0] == '#') continue;
        std::string name = line.substr(0, line.find_first_of("{ "));
        EXPECT_TRUE(described.count(name)) << name << " has no TYPE before it";
        EXPECT_NE(body.find("# HELP " + name + " "), std::string::npos) << name << " has no HELP";
    }
}

}  // namespace execaudit::testing
