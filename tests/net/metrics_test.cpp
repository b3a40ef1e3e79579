#include "net/metrics.h"

#include <gtest/gtest.h>

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
