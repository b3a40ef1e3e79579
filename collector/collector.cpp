#include "collector/collector.h"

#include "collector/leader.h"
#include "export/exporter.h"
#include "collector/upload_service.h"
#include "collector/webhook_intake.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/text.h"
#include "net/http_server.h"
#include "collector/database_probe.h"
#include "net/metrics.h"
#include "storage/postgres/pg_connection.h"
#include "storage/postgres/pg_schema.h"
#include "storage/retention_policy.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <functional>

namespace execaudit::collector {
namespace pg = storage::pg;

namespace {

void check_options(const CollectOptions& o) {
    if (!pg::is_postgres_uri(o.db))
        throw UsageError("collect needs --db postgresql://USER@HOST:PORT/DB (or $EXECAUDIT_DB): the cluster store");
    if (o.listen.empty()) throw UsageError("collect needs --listen ADDR:PORT for node uploads");
    net::parse_listen_address(o.listen, "--listen");
    if (o.tls_cert.empty() || o.tls_key.empty())
        throw UsageError("collect needs --tls-cert and --tls-key: nodes upload over TLS only");
    if (o.node_ca.empty())
        throw UsageError("collect needs --node-ca: the CA that signs the nodes' upload certificates (a node's name is the "
                         "one its certificate proves)");
    if (o.upload_body_limit_mb == 0 || o.upload_workers == 0) throw UsageError("--upload-workers and --upload-body-limit-mb must be positive");
    if (o.audit_skew_s < 0 || o.audit_grace_s < 0) throw UsageError("--audit-skew and --audit-grace cannot be negative");
    if (!o.audit_webhook.empty()) net::parse_listen_address(o.audit_webhook, "--audit-webhook");
    if (!o.admission_webhook.empty()) net::parse_listen_address(o.admission_webhook, "--admission-webhook");
    if ((!o.audit_webhook.empty() || (!o.admission_webhook.empty() && !o.admission_unverified)) && o.client_ca.empty())
        throw UsageError("the webhooks need --client-ca: the CA of the API server's client certificate (a trust list apart "
                         "from --node-ca; on a managed cluster without client certificates: --admission-unverified)");
    if (!o.client_ca.empty() && o.client_ca == o.node_ca)
        throw UsageError("--client-ca and --node-ca are the same file: a node's certificate could then post identities; "
                         "give the API server's client certificate a CA of its own");
}

net::HttpServerOptions webhook_listener(const CollectOptions& o, const std::string& name, const std::string& listen,
                                        bool admission) {
    net::HttpServerOptions s{.name = name, .listen = listen, .body_limit = o.webhook_body_limit_mb << 20};
    s.tls = net::TlsFiles{.cert_file = o.tls_cert, .key_file = o.tls_key};
    if (admission && o.admission_unverified) s.anonymous_tls = true;  // identities from it are stored as unverified
    else s.tls->clients = net::ClientTrust{.ca_file = o.client_ca, .subjects = o.client_subjects};
    return s;
}

storage::RetentionPolicy retention_policy_of(const CollectOptions& o) {
    storage::RetentionPolicy p;
    if (o.retention_days) p.days = o.retention_days;
    for (const auto& r : o.retention_namespaces) p.namespaces.push_back(storage::parse_namespace_rule(r));
    p.max_db_size = storage::parse_size_bound(o.max_db_size, "max-db-size");
    if (p.max_db_size.percent > 0)
        throw UsageError(fmt::format("--max-db-size {}: a share of a file system means nothing for the cluster store (PostgreSQL "
                                     "may be remote or managed); give bytes, e.g. 50G, or 0 for no bound",
                                     terminal_safe(o.max_db_size)));
    if (o.retention_interval_s < 0.01 || o.retention_interval_s > 86400)
        throw UsageError("--retention-interval is between 0.01 and 86400 seconds");
    return p;
}

}  // namespace

int run_collect(const CollectOptions& options) {
    check_options(options);
    storage::RetentionPolicy retention = retention_policy_of(options);  // a bad rule: exit 2 before anything starts
    // the export flags are checked now (a bad URL or TLS file is exit 2), the exporters made by the leader
    exporting::make_exporters(options.exports, [] { return std::unique_ptr<exporting::ExportSource>(); });
    // the countersigning key is read now: a bad file is exit 2, not a collector that seals unsigned
    std::shared_ptr<const storage::HeadSigner> signer;
    if (!options.signing_key.empty())
        signer = std::make_shared<const storage::HeadSigner>(storage::HeadSigner::from_pem_file(options.signing_key));
    boost::asio::io_context io;
    bool stopping = false;
    std::vector<std::unique_ptr<net::HttpServer>> servers;
    std::unique_ptr<UploadService> uploads;
    std::unique_ptr<WebhookIntake> webhooks;
    std::unique_ptr<Leader> leader;
    std::unique_ptr<DatabaseProbe> probe;

    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        log::info("signal {}: stopping", signo);
        stopping = true;
        for (auto& s : servers) s->stop();
        if (probe) probe->stop();
        if (uploads) uploads->stop();
        if (webhooks) webhooks->stop();
        if (leader) leader->stop();
        io.stop();
    });

    // The schema first: created or migrated (one replica at a time: an advisory lock). While
    // PostgreSQL cannot be reached, retry: a collector that starts before its database waits.
    boost::asio::steady_timer retry(io);
    std::function<void()> start;
    int attempts = 0;
    start = [&] {
        try {
            auto c = pg::Connection::open(options.db);
            pg::migrate(c);
            log::info("cluster store {} at schema v{}", c.label(), pg::current_schema_version());
        } catch (const pg::PgError& e) {
            if (!e.connection_lost()) throw;
            if (attempts++ % 15 == 0) log::warn("cannot reach the cluster store: {}; retrying", e.what());
            retry.expires_after(std::chrono::seconds(2));
            retry.async_wait([&](const boost::system::error_code& ec) {
                if (!ec && !stopping) start();
            });
            return;
        }
        uploads = std::make_unique<UploadService>(
            UploadService::Options{.db_uri = options.db, .workers = options.upload_workers,
                                   .limits = {.max_body = options.upload_body_limit_mb << 20},
                                   .cluster = options.cluster_name.empty()
                                                  ? std::nullopt
                                                  : std::optional<std::string>(options.cluster_name),
                                   .signer = signer});
        net::HttpServerOptions node_listener{.name = "node uploads", .listen = options.listen,
                                             .body_limit = (options.upload_body_limit_mb << 20) + 4096,
                                             .max_body_bytes_in_flight = (options.upload_body_limit_mb << 20) * 8};
        node_listener.tls = net::TlsFiles{.cert_file = options.tls_cert, .key_file = options.tls_key,
                                          .clients = net::ClientTrust{.ca_file = options.node_ca, .subjects = options.node_subjects}};
        servers.push_back(std::make_unique<net::HttpServer>(node_listener, uploads->handler()));
        if (!options.audit_webhook.empty() || !options.admission_webhook.empty()) {
            webhooks = std::make_unique<WebhookIntake>(WebhookIntake::Options{.db_uri = options.db});
            if (!options.audit_webhook.empty())
                servers.push_back(std::make_unique<net::HttpServer>(
                    webhook_listener(options, "audit webhook", options.audit_webhook, false), webhooks->audit_handler()));
            if (!options.admission_webhook.empty())
                servers.push_back(std::make_unique<net::HttpServer>(
                    webhook_listener(options, "admission webhook", options.admission_webhook, true),
                    webhooks->admission_handler()));
        }
        attribution::Correlator::Options correlation;
        correlation.skew_ns = static_cast<int64_t>(options.audit_skew_s * 1e9);
        correlation.grace_ns = static_cast<int64_t>(options.audit_grace_s * 1e9);
        leader = std::make_unique<Leader>(Leader::Options{
            .db_uri = options.db, .correlation = correlation, .exports = options.exports, .retention = retention,
            .retention_interval = std::chrono::milliseconds(static_cast<int64_t>(options.retention_interval_s * 1000)),
            .signer = signer});
        if (leader->retention()) log::info("retention (run by the leading replica): {}", leader->retention()->policy().describe());
        leader->start();
        if (!options.metrics.empty()) {
            auto collect = [&] {
                auto m = uploads->metrics();
                for (auto& x : leader->metrics()) m.push_back(std::move(x));
                if (webhooks)
                    for (auto& x : webhooks->metrics()) m.push_back(std::move(x));
                return m;
            };
            // readiness follows PostgreSQL itself, also while nothing arrives to fail or succeed
            probe = std::make_unique<DatabaseProbe>(options.db, std::chrono::seconds(2),
                                                    [&uploads](const std::string& error) { uploads->note_database(error); });
            auto not_ready = [&] { return uploads->not_ready(); };
            servers.push_back(std::make_unique<net::HttpServer>(
                net::HttpServerOptions{.name = "metrics", .listen = options.metrics, .plain_http = true,
                                       .plain_http_any_address = true, .body_limit = 1 << 16},
                net::make_metrics_handler(collect, not_ready)));
        }
        if (signer) log::info("countersigning sealed sessions with key {}", signer->key_id());
        log::info("execaudit collect: ready");
    };
    start();
    io.run();
    for (auto& s : servers) s->stop();
    if (probe) probe->stop();
    if (uploads) uploads->stop();
    if (webhooks) webhooks->stop();
    if (leader) leader->stop();
    log::info("stopped");
    return 0;
}

}  // namespace execaudit::collector
