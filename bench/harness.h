#pragma once
// The benchmark harness: figures as medians of alternated runs, targets, and the report
// (`name: value` lines with PASS/FAIL, and the same as JSON in bench/results/latest.json).

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::bench {

struct Target {
    enum class Op { at_least, at_most, equal } op;
    double value;
    std::string describe() const;
    bool met(double v) const;
};

struct Figure {
    std::string name;
    double value = 0;
    std::string unit;
    std::optional<Target> target;
    std::string note;  ///< how it was measured (runs, sizes)
};

/// How much to measure: --smoke (seconds, proves the harness), --quick (<5 min), full (<30 min).
struct Scale {
    enum class Mode { smoke, quick, full } mode = Mode::quick;
    int runs = 5;                  ///< per side of a ratio
    size_t pty_mb = 40;            ///< data printed through a pty per run
    int execs = 1000;              ///< execs per exec-rate run
    size_t flood_mb = 200;
    size_t ingest_mb = 512;
    int latency_execs = 50;        ///< execs timed from the node to PostgreSQL
    bool judge = true;             ///< smoke runs print figures without PASS/FAIL
    static Scale from_mode(Mode m);
};

double median(std::vector<double> values);

struct Alternated {
    double a = 0;      ///< median of `a`'s results
    double b = 0;      ///< median of `b`'s results
    double ratio = 0;  ///< median of b/a over the back-to-back pairs: robust to the machine drifting
};
/// Runs `a` and `b` back to back, `runs` times (the order swaps every round).
Alternated alternate(int runs, const std::function<double()>& a, const std::function<double()>& b);

class Report {
public:
    void add(Figure figure);
    /// Prints every figure, then writes JSON; returns how many targets were missed.
    int finish(const Scale& scale, const std::string& json_path) const;
    const std::vector<Figure>& figures() const { return figures_; }

private:
    std::vector<Figure> figures_;
};

/// Seconds since `start`.
double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace execaudit::bench
