#include "attribution/admission_review.h"

#include "attribution/audit_event.h"

#include <nlohmann/json.hpp>

#include <set>

namespace execaudit::attribution {
using nlohmann::json;

namespace {

bool flag(const json& obj, const char* key) {
    auto it = obj.find(key);
    return it != obj.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

std::expected<AdmissionReviewParse, std::string> parse_admission_review(std::string_view body, int64_t now_ns) {
    if (json_too_deep(body)) return std::unexpected("body nests deeper than 64 levels");
    json review = json::parse(body, nullptr, false);
    if (review.is_discarded() || !review.is_object()) return std::unexpected("body is not a JSON object");
    if (json_string(review, "kind") != "AdmissionReview") return std::unexpected("body is not an AdmissionReview");
    auto req = review.find("request");
    if (req == review.end() || !req->is_object()) return std::unexpected("AdmissionReview without a request");
    AdmissionReviewParse out;
    out.uid = json_string(*req, "uid");
    out.api_version = json_string(review, "apiVersion");
    if (out.uid.empty()) return std::unexpected("AdmissionReview request without a uid");

    std::string resource;
    if (auto r = req->find("resource"); r != req->end() && r->is_object()) resource = json_string(*r, "resource");
    std::string sub = json_string(*req, "subResource");
    std::string operation = json_string(*req, "operation");
    bool connect = (sub == "exec" || sub == "attach") && operation == "CONNECT";
    bool debug = sub == "ephemeralcontainers" && operation == "UPDATE";  // kubectl debug adds one
    if (resource != "pods" || (!connect && !debug)) return out;

    ExecRequest e;
    e.audit_id = out.uid;
    e.source = RequestSource::admission;
    e.verb = "connect";
    e.received_ns = now_ns;
    e.target.kind = sub;
    e.target.namespace_name = json_string(*req, "namespace");
    e.target.pod = json_string(*req, "name");
    if (auto o = req->find("object"); connect && o != req->end() && o->is_object()) {
        e.target.container = json_string(*o, "container");
        e.target.command = json_strings(*o, "command");
        e.target.tty = flag(*o, "tty");
        e.target.stdin = flag(*o, "stdin");
    }
    if (debug) {  // the ephemeral container this update adds: in object, not in oldObject
        auto names = [&](const char* key) {
            std::set<std::string> out;
            auto o = req->find(key);
            if (o == req->end() || !o->is_object()) return out;
            auto spec = o->find("spec");
            if (spec == o->end() || !spec->is_object()) return out;
            auto list = spec->find("ephemeralContainers");
            if (list == spec->end() || !list->is_array()) return out;
            for (const auto& c : *list)
                if (c.is_object() && out.size() < 1024) out.insert(json_string(c, "name"));
            return out;
        };
        std::set<std::string> added;
        auto before = names("oldObject");
        for (const auto& n : names("object"))
            if (!before.contains(n)) added.insert(n);
        if (added.size() == 1) e.target.container = *added.begin();
    }
    if (auto u = req->find("userInfo"); u != req->end() && u->is_object()) {
        e.identity.user = json_string(*u, "username");
        e.identity.uid = json_string(*u, "uid");
        e.identity.groups = json_strings(*u, "groups");
        if (auto x = u->find("extra"); x != u->end() && x->is_object()) e.identity.extra_json = x->dump(-1, ' ', false, json::error_handler_t::replace);
    }
    e.identity.decision = "allow";  // authorization happens before admission
    out.request = std::move(e);
    return out;
}

}  // namespace execaudit::attribution
