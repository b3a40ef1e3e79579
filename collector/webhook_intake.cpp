#include "collector/webhook_intake.h"

#include "attribution/admission_review.h"
#include "attribution/audit_event.h"
#include "common/log.h"
#include "common/time_format.h"
#include "storage/postgres/pg_connection.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <optional>

namespace execaudit::collector {
namespace http = boost::beast::http;
namespace pg = storage::pg;
using namespace attribution;

WebhookIntake::WebhookIntake(Options options) : options_(std::move(options)) {
    thread_ = std::thread([this] { run(); });
}

WebhookIntake::~WebhookIntake() { stop(); }

void WebhookIntake::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        wake_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    std::deque<Job> left;
    {
        std::lock_guard lock(mutex_);
        left.swap(queue_);
    }
    for (auto& j : left) j.done(false);
}

bool WebhookIntake::enqueue(Job job) {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= options_.max_queued) {
        ++refused_;
        return false;
    }
    queue_.push_back(std::move(job));
    wake_.notify_one();
    return true;
}

net::HttpHandler WebhookIntake::audit_handler() {
    return [this](const net::HttpRequest& request, const net::PeerInfo&, net::Respond respond) {
        if (request.method() != http::verb::post)
            return respond(net::make_response(http::status::method_not_allowed, "POST an audit.k8s.io/v1 EventList\n"));
        auto list = parse_event_list(request.body());
        if (!list) {
            std::lock_guard lock(mutex_);
            ++malformed_;
            return respond(net::make_response(http::status::bad_request, list.error() + "\n"));
        }
        for (size_t i = 0; i < list->errors.size() && i < 3; ++i) log::warn("audit webhook: item skipped: {}", list->errors[i]);
        Job job;
        for (const auto& e : list->events)
            job.stages.push_back(Stage{request_key(e), e.audit_id, e.stage, "webhook", e.received_ns, e.stage_ns, e.raw_json});
        size_t kept = job.stages.size(), bad = list->malformed;
        job.done = [respond, kept, bad](bool stored) {
            if (stored) respond(net::make_response(http::status::ok, fmt::format("stored {} exec events; {} malformed skipped\n", kept, bad)));
            else respond(net::retry_later(http::status::service_unavailable, 2, "cannot store audit events now; retry"));
        };
        if (job.stages.empty()) return job.done(true);
        if (!enqueue(std::move(job)))
            respond(net::retry_later(http::status::service_unavailable, 2, "too many audit batches waiting; retry"));
    };
}

net::HttpHandler WebhookIntake::admission_handler() {
    return [this](const net::HttpRequest& request, const net::PeerInfo& peer, net::Respond respond) {
        if (request.method() != http::verb::post)
            return respond(net::make_response(http::status::method_not_allowed, "POST an admission.k8s.io AdmissionReview\n"));
        int64_t now = wall_clock_ns();
        auto parsed = parse_admission_review(request.body(), now);
        if (!parsed) return respond(net::make_response(http::status::bad_request, parsed.error() + "\n"));
        nlohmann::json answer = {{"apiVersion", parsed->api_version.empty() ? "admission.k8s.io/v1" : parsed->api_version},
                                 {"kind", "AdmissionReview"},
                                 {"response", {{"uid", parsed->uid}, {"allowed", true}}}};
        respond(net::make_response(http::status::ok, answer.dump(), "application/json"));
        if (!parsed->request) return;
        parsed->request->verified = peer.authenticated;
        Job job;
        job.stages.push_back(Stage{request_key(*parsed->request), parsed->request->audit_id, "AdmissionReview",
                                   peer.authenticated ? "admission" : "admission-unverified", parsed->request->received_ns,
                                   parsed->request->received_ns, request.body()});
        job.done = [](bool) {};
        {
            std::lock_guard lock(mutex_);
            ++reviews_;
            if (!peer.authenticated) ++unverified_reviews_;
        }
        if (!enqueue(std::move(job))) log::warn("admission webhook: too many reviews waiting; one was answered but not kept");
    };
}

void WebhookIntake::run() {
    std::optional<pg::Connection> conn;
    for (;;) {
        std::deque<Job> jobs;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_) return;
            jobs.swap(queue_);
        }
        bool stored = false;
        size_t n = 0;
        try {
            if (!conn || !conn->ok()) conn.emplace(pg::Connection::open(options_.db_uri));
            pg::Transaction tx(*conn);
            int64_t now = wall_clock_ns();
            for (const auto& j : jobs)
                for (const auto& s : j.stages) {
                    conn->exec("INSERT INTO audit_events (request_id, audit_id, stage, source, received_ns, stage_ns, ingested_ns, "
                               "raw_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (request_id, stage) DO NOTHING",
                               {pg::text(s.request_id), pg::text(s.audit_id), pg::text(s.stage), pg::text(s.source),
                                pg::num(s.received_ns), pg::num(s.stage_ns), pg::num(now), pg::text(s.raw_json)});
                    ++n;
                }
            tx.commit();
            stored = true;
        } catch (const std::exception& e) {
            conn.reset();
            log::warn("webhooks: cannot store {} stages: {}; answered 503 (the API server retries)", n, e.what());
        }
        {
            std::lock_guard lock(mutex_);
            if (stored) stages_ += n;
            else ++db_failures_;
        }
        for (auto& j : jobs) j.done(stored);
    }
}

std::vector<net::Metric> WebhookIntake::metrics() const {
    std::lock_guard lock(mutex_);
    return {
        {"collector_audit_stages_total", "Exec-like audit stages and admission reviews stored", "counter", static_cast<double>(stages_)},
        {"collector_admission_reviews_total", "Admission reviews received", "counter", static_cast<double>(reviews_)},
        {"collector_admission_reviews_unverified_total", "Admission reviews from a listener that cannot authenticate its sender",
         "counter", static_cast<double>(unverified_reviews_)},
        {"collector_webhook_refused_total", "Webhook batches answered 503 (queue full)", "counter", static_cast<double>(refused_)},
        {"collector_webhook_malformed_total", "Webhook bodies refused as malformed", "counter", static_cast<double>(malformed_)},
        {"collector_webhook_database_failures_total", "Webhook batches answered 503 because the database was unavailable",
         "counter", static_cast<double>(db_failures_)},
    };
}

}  // namespace execaudit::collector
