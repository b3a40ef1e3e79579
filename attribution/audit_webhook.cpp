#include "attribution/audit_webhook.h"

#include "common/log.h"

#include <boost/asio/post.hpp>
#include <fmt/format.h>

namespace execaudit::attribution {
using namespace net;  // HttpHandler, PeerInfo, make_response: the shared network edge (net/)
namespace http = boost::beast::http;

HttpHandler make_audit_webhook(Attribution& attribution) {
    return [&attribution](const HttpRequest& request, const PeerInfo&, Respond respond) {
        if (request.method() != http::verb::post) {
            auto r = make_response(http::status::method_not_allowed, "POST an audit.k8s.io/v1 EventList\n");
            r.set(http::field::allow, "POST");
            return respond(std::move(r));
        }
        auto& intake = attribution.intake();
        if (!intake.open()) {
            ++intake.refused;
            return respond(retry_later(http::status::service_unavailable, 5, "too many requests waiting for correlation; retry"));
        }
        // Parsed here, on the server's thread: the recorder's loop only gets the events.
        auto list = parse_event_list(request.body());
        if (!list) return respond(make_response(http::status::bad_request, list.error() + "\n"));
        // Malformed items cannot be fixed by a retry: they are logged, and the rest is kept.
        for (size_t i = 0; i < list->errors.size() && i < 3; ++i) log::warn("audit webhook: item skipped: {}", list->errors[i]);
        if (list->malformed > 3) log::warn("audit webhook: {} more malformed items skipped in that batch", list->malformed - 3);
        size_t kept = list->events.size();
        size_t bad = list->malformed;
        intake.queued += kept;
        boost::asio::post(attribution.io(), [&attribution, events = std::move(list->events), respond, kept, bad]() mutable {
            attribution.ingest(std::move(events), "webhook", std::nullopt, [respond, kept, bad]() {
                respond(make_response(http::status::ok, fmt::format("stored {} exec events; {} malformed skipped\n", kept, bad)));
            });
            attribution.intake().queued -= kept;
        });
    };
}

}  // namespace execaudit::attribution
