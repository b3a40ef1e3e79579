// The collector's health endpoints as a kubelet and Prometheus see them (docs/deploy.md, "Health
// and metrics"): /healthz while the process runs, /readyz only while PostgreSQL answers (a
// replica that cannot store is taken out of the Service, and comes back by itself), and /metrics
// that Prometheus' own promtool accepts, with every family described.
#include "tests/support/cluster.h"
#include "tests/support/postgres.h"
#include "tests/support/prometheus.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

namespace execaudit::testing {
namespace {

class CollectorHealth : public ::testing::Test {
protected:
    void SetUp() override {
        for (const char* program : {"curl", "openssl", "promtool"}) EA_REQUIRE(missing_program(program));
        EA_REQUIRE(missing_postgres());
        pg_ = std::make_unique<PostgresServer>();
        pki_ = std::make_unique<ClusterPki>(dir_.path());
        collector_ = std::make_unique<Collector>(pg_->uri(), *pki_, dir_.file("collect.log"),
                                                 std::vector<std::string>{"--export-jsonl", dir_.file("cluster.jsonl")});
    }
    /// curl's status code and body for a path of the metrics listener.
    std::pair<int, std::string> get(const std::string& path) {
        auto r = run({"curl", "-s", "-m", "10", "-w", "\n%{http_code}",
                      "http://127.0.0.1:" + std::to_string(collector_->metrics_port()) + path});
        auto nl = r.out.rfind('\n');
        if (nl == std::string::npos) return {0, r.out};
        return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
    }

    TempDir dir_;
    std::unique_ptr<PostgresServer> pg_;
    std::unique_ptr<ClusterPki> pki_;
    std::unique_ptr<Collector> collector_;
};

TEST_F(CollectorHealth, PromtoolAcceptsTheCollectorsMetrics) {
    auto [code, body] = get("/metrics");
    ASSERT_EQ(code, 200) << body;
    ASSERT_NE(body.find("# TYPE execaudit_"), std::string::npos) << body;
    expect_prometheus_accepts(body, dir_.file("metrics.txt"));
}

TEST_F(CollectorHealth, ReadyOnlyWhilePostgresAnswers) {
    EXPECT_EQ(get("/healthz"), (std::pair<int, std::string>{200, "ok\n"}));
    ASSERT_TRUE(eventually([&] { return get("/readyz").first == 200; }, 30s)) << get("/readyz").second << collector_->log();

    pg_->stop();
    ASSERT_TRUE(eventually([&] { return get("/readyz").first == 503; }, 60s)) << get("/readyz").second << collector_->log();
    auto [code, body] = get("/readyz");
    EXPECT_EQ(code, 503);
    EXPECT_NE(body.find("not ready: "), std::string::npos) << body;
    EXPECT_NE(body.find("PostgreSQL"), std::string::npos) << body;
    EXPECT_EQ(body.find("password"), std::string::npos) << body;
    // alive all along: a kubelet must not restart a replica for its database's outage
    EXPECT_EQ(get("/healthz"), (std::pair<int, std::string>{200, "ok\n"}));

    pg_->start();
    EXPECT_TRUE(eventually([&] { return get("/readyz").first == 200; }, 60s)) << get("/readyz").second << collector_->log();
}

}  // namespace
}  // namespace execaudit::testing
