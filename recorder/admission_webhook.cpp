#include "recorder/admission_webhook.h"

#include "common/time_format.h"

#include <nlohmann/json.hpp>

namespace execaudit::recorder {
namespace http = boost::beast::http;
using nlohmann::json;

namespace {

std::string str(const json& obj, const char* key) {
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>().substr(0, 64 * 1024) : std::string();
}

std::vector<std::string> strings(const json& obj, const char* key) {
    std::vector<std::string> out;
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_array()) return out;
    for (const auto& v : *it)
        if (v.is_string() && out.size() < 1024) out.push_back(v.get<std::string>());
    return out;
}

bool flag(const json& obj, const char* key) {
    auto it = obj.find(key);
    return it != obj.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

std::expected<AdmissionReviewParse, std::string> parse_admission_review(std::string_view body, int64_t now_ns) {
    if (json_too_deep(body)) return std::unexpected("body nests deeper than 64 levels");
    json review = json::parse(body, nullptr, false);
    if (review.is_discarded() || !review.is_object()) return std::unexpected("body is not a JSON object");
    if (str(review, "kind") != "AdmissionReview") return std::unexpected("body is not an AdmissionReview");
    auto req = review.find("request");
    if (req == review.end() || !req->is_object()) return std::unexpected("AdmissionReview without a request");
    AdmissionReviewParse out;
    out.uid = str(*req, "uid");
    out.api_version = str(review, "apiVersion");
    if (out.uid.empty()) return std::unexpected("AdmissionReview request without a uid");

    std::string resource;
    if (auto r = req->find("resource"); r != req->end() && r->is_object()) resource = str(*r, "resource");
    std::string sub = str(*req, "subResource");
    if (resource != "pods" || (sub != "exec" && sub != "attach") || str(*req, "operation") != "CONNECT") return out;

    ExecRequest e;
    e.id = out.uid;
    e.source = "admission";
    e.verb = "connect";
    e.received_ns = now_ns;
    e.target.kind = sub;
    e.target.namespace_name = str(*req, "namespace");
    e.target.pod = str(*req, "name");
    if (auto o = req->find("object"); o != req->end() && o->is_object()) {
        e.target.container = str(*o, "container");
        e.target.command = strings(*o, "command");
        e.target.tty = flag(*o, "tty");
        e.target.stdin = flag(*o, "stdin");
    }
    if (auto u = req->find("userInfo"); u != req->end() && u->is_object()) {
        e.identity.user = str(*u, "username");
        e.identity.uid = str(*u, "uid");
        e.identity.groups = strings(*u, "groups");
        if (auto x = u->find("extra"); x != u->end() && x->is_object()) e.identity.extra_json = x->dump(-1, ' ', false, json::error_handler_t::replace);
    }
    e.identity.decision = "allow";  // authorization happens before admission
    out.request = std::move(e);
    return out;
}

HttpHandler make_admission_webhook(Attribution& attribution) {
    return [&attribution](const HttpRequest& request, Respond respond) {
        if (request.method() != http::verb::post)
            return respond(make_response(http::status::method_not_allowed, "POST an admission.k8s.io AdmissionReview\n"));
        auto parsed = parse_admission_review(request.body(), wall_clock_ns());
        if (!parsed) return respond(make_response(http::status::bad_request, parsed.error() + "\n"));
        json answer = {{"apiVersion", parsed->api_version.empty() ? "admission.k8s.io/v1" : parsed->api_version},
                       {"kind", "AdmissionReview"},
                       {"response", {{"uid", parsed->uid}, {"allowed", true}}}};
        respond(make_response(http::status::ok, answer.dump(), "application/json"));
        if (parsed->request) attribution.admit(std::move(*parsed->request), request.body());
    };
}

}  // namespace execaudit::recorder
