#include "bench/harness.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace execaudit::bench {

std::string Target::describe() const {
    switch (op) {
        case Op::at_least: return fmt::format(">= {}", value);
        case Op::at_most: return fmt::format("<= {}", value);
        case Op::equal: return fmt::format("= {}", value);
    }
    return "";
}

bool Target::met(double v) const {
    switch (op) {
        case Op::at_least: return v >= value;
        case Op::at_most: return v <= value;
        case Op::equal: return v == value;
    }
    return false;
}

Scale Scale::from_mode(Mode m) {
    Scale s;
    s.mode = m;
    if (m == Mode::smoke) {
        s.runs = 1;
        s.pty_mb = 2;
        s.execs = 50;
        s.flood_mb = 4;
        s.ingest_mb = 16;
        s.latency_execs = 3;
        s.judge = false;
    } else if (m == Mode::full) {
        s.runs = 7;
        s.pty_mb = 100;
        s.execs = 3000;
        s.flood_mb = 200;
        s.ingest_mb = 2048;
        s.latency_execs = 200;
    }
    return s;
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Alternated alternate(int runs, const std::function<double()>& a, const std::function<double()>& b) {
    std::vector<double> as, bs, ratios;
    for (int i = 0; i < runs; ++i) {
        // swap the order every other round: neither side always runs on a warmer machine
        double x, y;
        if (i % 2 == 0) {
            x = a();
            y = b();
        } else {
            y = b();
            x = a();
        }
        as.push_back(x);
        bs.push_back(y);
        ratios.push_back(x > 0 ? y / x : 0);
    }
    return {median(as), median(bs), median(ratios)};
}

void Report::add(Figure figure) {
    std::cout << fmt::format("{}: {:.4g}{}", figure.name, figure.value, figure.unit.empty() ? "" : " " + figure.unit)
              << std::endl;
    figures_.push_back(std::move(figure));
}

int Report::finish(const Scale& scale, const std::string& json_path) const {
    int missed = 0;
    auto results = nlohmann::json::array();
    std::cout << "\n";
    for (const auto& f : figures_) {
        nlohmann::json j = {{"name", f.name}, {"value", f.value}, {"unit", f.unit}, {"note", f.note}};
        std::string verdict;
        if (f.target) {
            bool ok = f.target->met(f.value);
            j["target"] = f.target->describe();
            if (scale.judge) {
                j["pass"] = ok;
                verdict = ok ? "PASS" : "FAIL";
                missed += !ok;
            } else {
                verdict = "(smoke: not judged)";
            }
        }
        std::cout << fmt::format("{}: {:.4g}{}  {}{}{}\n", f.name, f.value, f.unit.empty() ? "" : " " + f.unit, verdict,
                                 f.target ? " (target " + f.target->describe() + ")" : "",
                                 f.note.empty() ? "" : "  [" + f.note + "]");
        results.push_back(std::move(j));
    }
    const char* mode = scale.mode == Scale::Mode::smoke ? "smoke" : scale.mode == Scale::Mode::quick ? "quick" : "full";
    nlohmann::json doc = {{"mode", mode}, {"figures", results}, {"targets_missed", missed}};
    std::filesystem::create_directories(std::filesystem::path(json_path).parent_path());
    std::ofstream(json_path) << doc.dump(2) << "\n";
    std::cout << fmt::format("\n{} figures, {} targets missed; JSON in {}\n", figures_.size(), scale.judge ? missed : 0, json_path);
    return scale.judge ? missed : 0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace execaudit::bench
