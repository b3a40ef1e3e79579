#include "recorder/pods/pod_watcher.h"

#include <utility>  // before Boost.Asio 1.74's awaitable.hpp, which uses std::exchange without it

#include "common/errors.h"
#include "common/log.h"
#include "recorder/pods/backoff.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <limits>
#include <random>

namespace execaudit::recorder {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Stream = beast::ssl_stream<beast::tcp_stream>;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxErrorBody = 64 << 10;  // a Status answer is < 1 KB
constexpr size_t kMaxPages = 100'000;       // a continue chain longer than any node's pods

std::string percent_encode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            out.push_back(static_cast<char>(c));
        else
            out += fmt::format("%{:02X}", c);
    }
    return out;
}

/// The message of a Status body ("pods is forbidden: ..."), bounded, or "".
std::string status_message(const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object()) return {};
    auto m = j.find("message");
    if (m == j.end() || !m->is_string()) return {};
    std::string text = m->get<std::string>();
    if (text.size() > 300) text = text.substr(0, 300) + "...";
    return text;
}

asio::ssl::context tls_context(const KubeConfig& config) {
    return asio::ssl::context(net::make_client_context(config.tls).release());
}

}  // namespace

struct PodWatcher::Impl {
    enum class Result { ok, gone, retry };

    const KubeConfig& config;
    Options options;
    PodWatchState state;
    asio::io_context io;
    asio::ssl::context tls;
    Backoff backoff;
    std::minstd_rand random{std::random_device{}()};
    std::string last_logged;
    Clock::time_point last_logged_at{};
    uint64_t failures_in_a_row = 0;
    bool over_budget_warned = false;

    mutable std::mutex mutex;
    PodWatcherStats stats;  // guarded by mutex

    Impl(const KubeConfig& c, Options o, PodCache& cache)
        : config(c),
          options(std::move(o)),
          state(options.max_object_bytes, options.limits, options.max_kept_bytes),
          tls(tls_context(c)),
          backoff(options.backoff_floor, options.backoff_ceiling) {
        state.set_listener(&cache);
    }

    template <typename F>
    void update(F f) {
        std::lock_guard lock(mutex);
        f(stats);
        stats.watch = state.counters();
        stats.kept_bytes = state.kept_bytes();
        // Said once, at the first pod refused for the cache's bound; /metrics counts every one.
        if (stats.watch.over_budget_pods > 0 && !over_budget_warned) {
            over_budget_warned = true;
            log::warn("pods from the API server ({}): pods bound to node {} are past --kube-max-cache-mb {} and refused: "
                      "their execs are findings (pod spec unknown); execaudit_kube_pods_over_budget_total counts them",
                      config.server(), options.node_name, options.max_kept_bytes >> 20);
        }
    }

    /// One failure: counted, logged when it differs from the last one (or every five minutes).
    void fail(std::string error) {
        ++failures_in_a_row;
        auto now = Clock::now();
        if (error != last_logged || now - last_logged_at > std::chrono::minutes(5)) {
            log::warn("pods from the API server ({}): {}; retrying (recording goes on; sessions meanwhile are judged by "
                      "what is known)", config.server(), error);
            last_logged = error;
            last_logged_at = now;
        }
        update([&](PodWatcherStats& s) {
            s.last_error = error;
            s.watching = false;
        });
    }

    void recovered(const char* what) {
        if (failures_in_a_row) log::info("pods from the API server ({}): {} again after {} failures", config.server(), what,
                                         failures_in_a_row);
        failures_in_a_row = 0;
        last_logged.clear();
        backoff.reset();
    }

    std::string host_header() const {
        bool v6 = config.host.find(':') != std::string::npos;
        return fmt::format("{}{}{}:{}", v6 ? "[" : "", config.host, v6 ? "]" : "", config.port);
    }

    std::string selector() const {
        return config.base_path + "/api/v1/pods?fieldSelector=" + percent_encode("spec.nodeName=" + options.node_name);
    }

    asio::awaitable<std::unique_ptr<Stream>> connect(std::string& error) {
        error_code ec;
        tcp::resolver resolver(io);
        auto endpoints = co_await resolver.async_resolve(config.host, config.port, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            error = fmt::format("cannot resolve {}: {}", config.host, ec.message());
            co_return nullptr;
        }
        auto stream = std::make_unique<Stream>(io, tls);
        const std::string& name = config.tls_server_name.empty() ? config.host : config.tls_server_name;
        if (!net::expect_server_name(stream->native_handle(), name)) {
            error = "TLS: cannot set the expected server name " + name + ": " + net::openssl_errors();
            co_return nullptr;
        }
        beast::get_lowest_layer(*stream).expires_after(options.request_timeout);
        co_await beast::get_lowest_layer(*stream).async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            error = fmt::format("cannot connect: {}", ec.message());
            co_return nullptr;
        }
        co_await stream->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            long verify = SSL_get_verify_result(stream->native_handle());
            error = verify != X509_V_OK
                        ? fmt::format("TLS: the API server's certificate was rejected: {}", X509_verify_cert_error_string(verify))
                        : fmt::format("TLS handshake failed: {}", ec.message());
            co_return nullptr;
        }
        co_return stream;
    }

    /// Connects and sends GET target with the newest token; null (error set) on failure.
    asio::awaitable<std::unique_ptr<Stream>> request(const std::string& target, std::string& error) {
        auto token = config.read_token(error);
        if (!token) co_return nullptr;
        auto stream = co_await connect(error);
        if (!stream) {
            update([](PodWatcherStats& s) { ++s.connect_failures; });
            co_return nullptr;
        }
        http::request<http::empty_body> req{http::verb::get, target, 11};
        req.set(http::field::host, host_header());
        req.set(http::field::user_agent, "execaudit-node-agent");
        req.set(http::field::accept, "application/json");
        if (!token->empty()) req.set(http::field::authorization, "Bearer " + *token);
        error_code ec;
        beast::get_lowest_layer(*stream).expires_after(options.request_timeout);
        co_await http::async_write(*stream, req, asio::redirect_error(asio::use_awaitable, ec));
        update([](PodWatcherStats& s) { ++s.requests; });
        if (ec) {
            error = "sending the request: " + ec.message();
            co_return nullptr;
        }
        co_return stream;
    }

    /// A non-200 answer: counted, described.
    std::string http_error(unsigned status, const std::string& body) {
        update([&](PodWatcherStats& s) {
            ++s.http_errors;
            if (status == 401) ++s.unauthorized;
            if (status == 403) ++s.forbidden;
        });
        std::string message = status_message(body);
        std::string why = status == 401   ? fmt::format("the API server refused the token (401){}; it is read again from {} "
                                                        "for the next attempt", message.empty() ? "" : ": " + message,
                                                        config.token_file.empty() ? "the kubeconfig" : config.token_file)
                          : status == 403 ? fmt::format("forbidden (403){}: the service account needs get, list and watch "
                                                        "on pods (deploy/kubernetes grants them)",
                                                        message.empty() ? "" : ": " + message)
                                          : fmt::format("HTTP {}{}", status, message.empty() ? "" : ": " + message);
        return why;
    }

    asio::awaitable<Result> list() {
        std::string continue_token;
        bool first = true;
        for (size_t pages = 0; pages < kMaxPages; ++pages) {
            std::string target = fmt::format("{}&limit={}", selector(), options.page_size);
            if (!continue_token.empty()) target += "&continue=" + percent_encode(continue_token);
            std::string error;
            auto stream = co_await request(target, error);
            if (!stream) {
                fail("list: " + error);
                co_return Result::retry;
            }
            beast::flat_buffer buffer;
            http::response_parser<http::string_body> parser;
            parser.body_limit(options.max_page_bytes);
            error_code ec;
            beast::get_lowest_layer(*stream).expires_after(options.request_timeout);
            co_await http::async_read(*stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            if (ec == http::error::body_limit) {
                size_t smaller = std::max<size_t>(1, options.page_size / 2);
                update([](PodWatcherStats& s) { ++s.page_too_large; });
                fail(fmt::format("list: a page of {} pods is larger than {} bytes; listing again {} at a time",
                                 options.page_size, options.max_page_bytes, smaller));
                options.page_size = smaller;
                co_return Result::retry;
            }
            if (ec) {
                fail("list: reading the answer: " + ec.message());
                co_return Result::retry;
            }
            unsigned status = parser.get().result_int();
            const std::string& body = parser.get().body();
            if (status == 410 && !continue_token.empty()) {
                // the continue token expired (the list took longer than etcd keeps its version): start over
                update([](PodWatcherStats& s) { ++s.http_errors; });
                continue_token.clear();
                first = true;
                continue;
            }
            if (status != 200) {
                fail("list: " + http_error(status, body));
                co_return Result::retry;
            }
            auto page = state.apply_list_page(body, first);
            update([](PodWatcherStats&) {});
            if (!page.ok) {
                fail("list: " + page.error);
                co_return Result::retry;
            }
            first = false;
            if (page.continue_token.empty()) {
                update([](PodWatcherStats& s) { s.synced = true; });
                recovered("listed");
                log::info("pods from the API server ({}): {} pods on node {} listed; watching from resourceVersion {}",
                          config.server(), state.pods().size(), options.node_name, state.resource_version());
                co_return Result::ok;
            }
            continue_token = std::move(page.continue_token);
        }
        fail("list: more pages than any node holds pods; listing again");
        co_return Result::retry;
    }

    asio::awaitable<Result> watch() {
        auto base = options.watch_timeout.count() > 0 ? options.watch_timeout.count() : 1;
        std::uniform_int_distribution<long long> pick(base, 2 * base - 1);
        long long timeout = pick(random);
        std::string target = fmt::format("{}&watch=true&allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={}",
                                         selector(), percent_encode(state.resource_version()), timeout);
        std::string error;
        auto started = Clock::now();
        auto stream = co_await request(target, error);
        if (!stream) {
            fail("watch: " + error);
            co_return Result::retry;
        }
        auto deadline = started + std::chrono::seconds(timeout) + options.watch_grace;
        beast::flat_buffer buffer;
        // Chunks of the stream go to the callback (never stored); only an error answer with a
        // Content-Length is kept, bounded. (Not buffer_body: Boost 1.74 then waits for the socket
        // while the rest of the stream already sits in the read buffer. Not body_limit(none):
        // Boost 1.74 compares a Content-Length against an empty optional as "over the limit".)
        http::response_parser<http::string_body> parser;
        parser.body_limit(std::numeric_limits<std::uint64_t>::max());
        bool gone = false, any = false, streaming = false;
        std::string error_body;
        auto on_chunk = [&](std::uint64_t, beast::string_view piece, error_code&) -> std::size_t {
            std::string_view data(piece.data(), piece.size());
            if (!streaming) {
                if (error_body.size() < kMaxErrorBody) error_body.append(data.substr(0, kMaxErrorBody - error_body.size()));
            } else if (!gone) {
                state.feed(data, [&](PodWatchState::Line line) {
                    any = true;
                    if (line == PodWatchState::Line::gone) gone = true;
                });
            }
            return data.size();
        };
        parser.on_chunk_body(on_chunk);
        error_code ec;
        beast::get_lowest_layer(*stream).expires_at(std::min(deadline, Clock::now() + options.request_timeout));
        co_await http::async_read_header(*stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            update([](PodWatcherStats& s) { ++s.stream_failures; });
            fail("watch: reading the answer: " + ec.message());
            co_return Result::retry;
        }
        unsigned status = parser.get().result_int();
        if (status != 200) {
            if (parser.content_length().value_or(0) <= kMaxErrorBody) {
                co_await http::async_read(*stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
                if (!ec) error_body += parser.get().body();
            }
            if (status == 410) {
                state.expire();
                update([](PodWatcherStats& s) { ++s.http_errors; });
                log::info("pods from the API server ({}): resourceVersion expired (410); listing again", config.server());
                co_return Result::gone;
            }
            fail("watch: " + http_error(status, error_body));
            co_return Result::retry;
        }
        if (!parser.chunked()) {
            update([](PodWatcherStats& s) { ++s.stream_failures; });
            fail("watch: the answer is not a chunked stream");
            co_return Result::retry;
        }
        streaming = true;
        state.reset_stream();
        update([](PodWatcherStats& s) { s.watching = true; });
        while (!parser.is_done()) {
            beast::get_lowest_layer(*stream).expires_at(deadline);
            co_await http::async_read_some(*stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
            update([](PodWatcherStats&) {});
            if (any && failures_in_a_row) recovered("watching");
            if (gone) {
                log::info("pods from the API server ({}): resourceVersion expired (410 Gone); listing again", config.server());
                update([](PodWatcherStats& s) { s.watching = false; });
                co_return Result::gone;
            }
            if (ec) {
                bool stalled = ec == beast::error::timeout;
                update([](PodWatcherStats& s) { ++s.stream_failures; });
                fail(stalled ? fmt::format("watch: the stream went quiet past its timeout ({} s); reconnecting", timeout)
                             : "watch: the stream broke: " + ec.message());
                co_return Result::retry;
            }
        }
        update([](PodWatcherStats& s) {
            ++s.watch_timeouts;
            s.watching = false;
        });
        // A server that ends every watch at once must not make this a busy loop.
        if (!any && Clock::now() - started < std::chrono::seconds(timeout) / 2) {
            fail("watch: the server ended the stream early with nothing on it");
            co_return Result::retry;
        }
        co_return Result::ok;
    }

    asio::awaitable<void> run() {
        asio::steady_timer timer(io);
        for (;;) {
            Result r = Result::retry;
            try {
                r = state.needs_list() ? co_await list() : co_await watch();
            } catch (const std::exception& e) {
                fail(std::string("unexpected: ") + e.what());
            }
            if (r == Result::ok) continue;
            timer.expires_after(r == Result::gone ? options.backoff_floor : backoff.next());
            error_code ec;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }
};

PodWatcher::PodWatcher(KubeConfig config, Options options, PodCache& cache)
    : config_(std::move(config)), impl_(std::make_unique<Impl>(config_, std::move(options), cache)) {
    asio::co_spawn(impl_->io, impl_->run(), [](std::exception_ptr e) {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            log::error("pods from the API server: the watcher stopped: {}", ex.what());
        }
    });
    thread_ = std::thread([this] { impl_->io.run(); });
}

PodWatcher::~PodWatcher() { stop(); }

void PodWatcher::stop() {
    if (!thread_.joinable()) return;
    impl_->io.stop();
    thread_.join();
}

PodWatcherStats PodWatcher::stats() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->stats;
}

}  // namespace execaudit::recorder
