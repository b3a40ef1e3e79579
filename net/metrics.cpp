#include "net/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

namespace execaudit::net {
namespace http = boost::beast::http;

namespace {

// Label values escape \, " and newline; HELP text escapes \ and newline (the text format's rules).
std::string escape(const std::string& v, bool quote) {
    std::string out;
    for (char c : v) {
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        if (c == '\\' || (quote && c == '"')) out += '\\';
        out += c;
    }
    return out;
}

std::string sample_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
}

}  // namespace

std::string render_metrics(const std::vector<Metric>& metrics) {
    // A family's samples must be contiguous: group by name, in first-appearance order.
    std::vector<std::string> order;
    std::map<std::string, std::vector<const Metric*>> families;
    for (const auto& m : metrics) {
        auto& family = families[m.name];
        if (family.empty()) order.push_back(m.name);
        family.push_back(&m);
    }
    std::string out;
    for (const auto& name : order) {
        const auto& family = families[name];
        out += fmt::format("# HELP execaudit_{} {}\n# TYPE execaudit_{} {}\n", name, escape(family.front()->help, false), name,
                           family.front()->type);
        for (const Metric* m : family) {
            std::string labels;
            for (const auto& [k, v] : m->labels) labels += fmt::format("{}{}=\"{}\"", labels.empty() ? "{" : ",", k, escape(v, true));
            if (!labels.empty()) labels += "}";
            out += fmt::format("execaudit_{}{} {}\n", name, labels, sample_value(m->value));
        }
    }
    return out;
}

HttpHandler make_metrics_handler(std::function<std::vector<Metric>()> collect, ReadinessCheck not_ready) {
    return [collect = std::move(collect), not_ready = std::move(not_ready)](const HttpRequest& request, const PeerInfo&,
                                                                             Respond respond) {
        std::string_view target(request.target().data(), request.target().size());
        if (target == "/healthz") return respond(make_response(http::status::ok, "ok\n"));
        if (target == "/readyz" && not_ready) {
            std::string why = not_ready();
            if (why.empty()) return respond(make_response(http::status::ok, "ready\n"));
            return respond(make_response(http::status::service_unavailable, "not ready: " + why + "\n"));
        }
        if (target == "/metrics")
            return respond(make_response(http::status::ok, render_metrics(collect()), "text/plain; version=0.0.4; charset=utf-8"));
        respond(make_response(http::status::not_found, not_ready ? "try /metrics, /healthz or /readyz\n" : "try /metrics or /healthz\n"));
    };
}

}  // namespace execaudit::net
