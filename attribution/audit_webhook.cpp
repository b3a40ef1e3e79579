#include "attribution/audit_webhook.h"

#include "common/log.h"

#include <fmt/format.h>

namespace execaudit::attribution {
using namespace net;  // HttpHandler, TlsOptions, Metric: the shared network edge (net/)
namespace http = boost::beast::http;

HttpHandler make_audit_webhook(Attribution& attribution) {
    return [&attribution](const HttpRequest& request, Respond respond) {
        if (request.method() != http::verb::post) {
            auto r = make_response(http::status::method_not_allowed, "POST an audit.k8s.io/v1 EventList\n");
            r.set(http::field::allow, "POST");
            return respond(std::move(r));
        }
        auto list = parse_event_list(request.body());
        if (!list) return respond(make_response(http::status::bad_request, list.error() + "\n"));
        // Malformed items cannot be fixed by a retry: they are logged, and the rest is kept.
        for (size_t i = 0; i < list->errors.size() && i < 3; ++i) log::warn("audit webhook: item skipped: {}", list->errors[i]);
        size_t kept = list->events.size();
        size_t bad = list->errors.size();
        attribution.ingest(std::move(list->events), "webhook", std::nullopt, [respond, kept, bad]() {
            respond(make_response(http::status::ok, fmt::format("stored {} exec events; {} malformed skipped\n", kept, bad)));
        });
    };
}

}  // namespace execaudit::attribution
