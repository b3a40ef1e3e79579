#pragma once
// The API server's audit and admission webhooks at the collector: any replica takes them. A
// webhook batch is parsed on the listener's thread, its exec-like stages stored in PostgreSQL
// (audit_events, not yet fed to correlation) and committed, and only then answered 200: the
// API server's retry covers everything before that. The leading replica (collector/leader.h)
// feeds what is stored to the correlator. An admission review is always allowed (this webhook
// never blocks an exec); it is answered at once and stored beside the audit stages.

#include "net/http_server.h"
#include "net/metrics.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace execaudit::collector {

class WebhookIntake {
public:
    struct Options {
        std::string db_uri;
        size_t max_queued = 64;  ///< webhook batches waiting to be stored; beyond: 503 + Retry-After
    };
    explicit WebhookIntake(Options options);
    ~WebhookIntake();
    WebhookIntake(const WebhookIntake&) = delete;
    WebhookIntake& operator=(const WebhookIntake&) = delete;

    net::HttpHandler audit_handler();
    net::HttpHandler admission_handler();
    void stop();
    std::vector<net::Metric> metrics() const;

private:
    struct Stage {
        std::string request_id, audit_id, stage, source;
        int64_t received_ns = 0, stage_ns = 0;
        std::string raw_json;
    };
    struct Job {
        std::vector<Stage> stages;
        std::function<void(bool stored)> done;
    };
    bool enqueue(Job job);
    void run();

    Options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queue_;  // guarded by mutex_
    bool stopping_ = false;  // guarded by mutex_
    uint64_t stages_ = 0, reviews_ = 0, unverified_reviews_ = 0, refused_ = 0, malformed_ = 0, db_failures_ = 0;  // guarded by mutex_
    std::thread thread_;
};

}  // namespace execaudit::collector
