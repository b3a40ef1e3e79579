#include "attribution/admission_webhook.h"

#include "attribution/admission_review.h"

#include "common/log.h"
#include "common/time_format.h"

#include <boost/asio/post.hpp>

#include <nlohmann/json.hpp>


namespace execaudit::attribution {
using namespace net;  // HttpHandler, TlsOptions, Metric: the shared network edge (net/)
namespace http = boost::beast::http;
using nlohmann::json;

HttpHandler make_admission_webhook(Attribution& attribution) {
    return [&attribution](const HttpRequest& request, const PeerInfo& peer, Respond respond) {
        if (request.method() != http::verb::post)
            return respond(make_response(http::status::method_not_allowed, "POST an admission.k8s.io AdmissionReview\n"));
        auto parsed = parse_admission_review(request.body(), wall_clock_ns());
        if (!parsed) return respond(make_response(http::status::bad_request, parsed.error() + "\n"));
        json answer = {{"apiVersion", parsed->api_version.empty() ? "admission.k8s.io/v1" : parsed->api_version},
                       {"kind", "AdmissionReview"},
                       {"response", {{"uid", parsed->uid}, {"allowed", true}}}};
        respond(make_response(http::status::ok, answer.dump(), "application/json"));
        if (!parsed->request) return;
        // Who sent it is known only when the listener checked a client certificate.
        parsed->request->verified = peer.authenticated;
        auto& intake = attribution.intake();
        if (!intake.open()) {
            if (intake.reviews_dropped++ % 1000 == 0)
                log::warn("admission webhook: correlation is full; reviews are answered but not kept ({} so far)",
                          intake.reviews_dropped.load());
            return;
        }
        ++intake.queued;
        boost::asio::post(attribution.io(), [&attribution, r = std::move(*parsed->request), raw = request.body()]() mutable {
            attribution.admit(std::move(r), std::move(raw));
            --attribution.intake().queued;
        });
    };
}

}  // namespace execaudit::attribution
