#include "net/metrics.h"

#include <gtest/gtest.h>

#include <limits>

using namespace execaudit::net;

TEST(Metrics, PrometheusTextFormat) {
    std::string text = render_metrics({
        {"sessions_open", "Exec sessions running now", "gauge", 3},
        {"export_backlog_records", "Records not yet confirmed", "gauge", 12, {{"destination", "syslog tls://siem:6514"}}},
        {"export_backlog_records", "Records not yet confirmed", "gauge", 0, {{"destination", "jsonl \"/var/log/x\"\n"}}},
    });
    EXPECT_EQ(text,
              "# HELP execaudit_sessions_open Exec sessions running now\n"
              "# TYPE execaudit_sessions_open gauge\n"
              "execaudit_sessions_open 3\n"
              "# HELP execaudit_export_backlog_records Records not yet confirmed\n"
              "# TYPE execaudit_export_backlog_records gauge\n"
              "execaudit_export_backlog_records{destination=\"syslog tls://siem:6514\"} 12\n"
              "execaudit_export_backlog_records{destination=\"jsonl \\\"/var/log/x\\\"\\n\"} 0\n");
}

TEST(Metrics, FamiliesStayTogether) {
    // Two destinations' metrics arrive interleaved; the text format wants each family in one group.
    std::string text = render_metrics({
        {"export_backlog_records", "Backlog", "gauge", 1, {{"destination", "a"}}},
        {"export_sent_records_total", "Sent", "counter", 2, {{"destination", "a"}}},
        {"export_backlog_records", "Backlog", "gauge", 3, {{"destination", "b"}}},
        {"export_sent_records_total", "Sent", "counter", 4, {{"destination", "b"}}},
    });
    EXPECT_EQ(text,
              "# HELP execaudit_export_backlog_records Backlog\n"
              "# TYPE execaudit_export_backlog_records gauge\n"
              "execaudit_export_backlog_records{destination=\"a\"} 1\n"
              "execaudit_export_backlog_records{destination=\"b\"} 3\n"
              "# HELP execaudit_export_sent_records_total Sent\n"
              "# TYPE execaudit_export_sent_records_total counter\n"
              "execaudit_export_sent_records_total{destination=\"a\"} 2\n"
              "execaudit_export_sent_records_total{destination=\"b\"} 4\n");
}

TEST(Metrics, HelpTextAndValuesAreEscaped) {
    std::string text = render_metrics({{"x", "line one\nback\\slash", "gauge", std::numeric_limits<double>::quiet_NaN()}});
    EXPECT_EQ(text, "# HELP execaudit_x line one\\nback\\\\slash\n# TYPE execaudit_x gauge\nexecaudit_x NaN\n");
}

TEST(Metrics, ReadyzAnswersWhatTheCheckSays) {
    std::string why = "the BPF programs are not attached yet";
    auto handler = make_metrics_handler([] { return std::vector<Metric>{}; }, [&] { return why; });
    auto get = [&](const std::string& target) {
        HttpRequest request{boost::beast::http::verb::get, target, 11};
        HttpResponse got;
        handler(request, PeerInfo{}, [&](HttpResponse r) { got = std::move(r); });
        return std::pair<int, std::string>{static_cast<int>(got.result_int()), got.body()};
    };
    EXPECT_EQ(get("/readyz"), (std::pair<int, std::string>{503, "not ready: the BPF programs are not attached yet\n"}));
    why.clear();
    EXPECT_EQ(get("/readyz"), (std::pair<int, std::string>{200, "ready\n"}));
    EXPECT_EQ(get("/healthz"), (std::pair<int, std::string>{200, "ok\n"}));
    // Without a check there is no /readyz to lie.
    auto bare = make_metrics_handler([] { return std::vector<Metric>{}; });
    HttpResponse got;
    bare(HttpRequest{boost::beast::http::verb::get, "/readyz", 11}, PeerInfo{}, [&](HttpResponse r) { got = std::move(r); });
    EXPECT_EQ(got.result_int(), 404u);
}
