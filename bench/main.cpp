// execaudit-bench: every performance figure of the recorder, as ratios measured in one run
// (these machines are shared and noisy), with PASS/FAIL against the targets in bench/README.md.
//   execaudit-bench [--smoke|--quick|--full] [--json PATH] [--only node|ingest|seek|cluster|pods]
#include "bench/figures.h"
#include "tests/support/environment.h"

#include <cstring>
#include <iostream>

using namespace execaudit::bench;

int main(int argc, char** argv) {
    Scale::Mode mode = Scale::Mode::quick;
    std::string json = "bench/results/latest.json";
    std::string only;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--smoke") mode = Scale::Mode::smoke;
        else if (a == "--quick") mode = Scale::Mode::quick;
        else if (a == "--full") mode = Scale::Mode::full;
        else if (a == "--json" && i + 1 < argc) json = argv[++i];
        else if (a == "--only" && i + 1 < argc) {
            only = argv[++i];
            if (only != "node" && only != "ingest" && only != "seek" && only != "cluster" && only != "pods") {
                std::cerr << "execaudit-bench: --only takes node, ingest, seek, cluster or pods, not '" << only << "'\n";
                return 2;
            }
        }
        else {
            std::cerr << "usage: execaudit-bench [--smoke|--quick|--full] [--json PATH] [--only node|ingest|seek|cluster|pods]\n";
            return 2;
        }
    }
    Scale scale = Scale::from_mode(mode);
    Report report;
    try {
        if (only.empty() || only == "ingest") {
            ingest_figures(scale, report);
            probe_figures(scale, report);
        }
        if (only.empty() || only == "seek") seek_figures(scale, report);
        if (only.empty() || only == "node") {
            std::string missing = execaudit::testing::missing_privileges();
            if (!missing.empty()) {
                std::cerr << "SKIPPED node figures: " << missing << "\n";
            } else {
                node_figures(scale, report);
            }
        }
        if (only.empty() || only == "pods") {
            std::string missing = execaudit::testing::missing_privileges();
            if (!missing.empty()) std::cerr << "SKIPPED pods figures: " << missing << "\n";
            else pods_figures(scale, report);
        }
        if (only.empty() || only == "cluster") {
            std::string missing = execaudit::testing::missing_privileges();
            if (missing.empty()) missing = missing_for_cluster_figures();
            if (!missing.empty()) {
                std::cerr << "SKIPPED cluster figures: " << missing << "\n";
            } else {
                cluster_figures(scale, report);
            }
        }
    } catch (const std::exception& e) {
        std::cerr << "execaudit-bench: " << e.what() << "\n";
        return 1;
    }
    return report.finish(scale, json) == 0 ? 0 : 3;
}
