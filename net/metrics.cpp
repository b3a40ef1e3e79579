#include "net/metrics.h"

#include <fmt/format.h>

#include <set>

namespace execaudit::net {
namespace http = boost::beast::http;

namespace {

std::string escape_label(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

}  // namespace

std::string render_metrics(const std::vector<Metric>& metrics) {
    std::string out;
    std::set<std::string> described;
    for (const auto& m : metrics) {
        if (described.insert(m.name).second)
            out += fmt::format("# HELP execaudit_{} {}\n# TYPE execaudit_{} {}\n", m.name, m.help, m.name, m.type);
        std::string labels;
        for (const auto& [k, v] : m.labels) labels += fmt::format("{}{}=\"{}\"", labels.empty() ? "{" : ",", k, escape_label(v));
        if (!labels.empty()) labels += "}";
        out += fmt::format("execaudit_{}{} {}\n", m.name, labels, m.value);
    }
    return out;
}

HttpHandler make_metrics_handler(std::function<std::vector<Metric>()> collect) {
    return [collect = std::move(collect)](const HttpRequest& request, const PeerInfo&, Respond respond) {
        std::string_view target(request.target().data(), request.target().size());
        if (target == "/healthz") return respond(make_response(http::status::ok, "ok\n"));
        if (target == "/metrics")
            return respond(make_response(http::status::ok, render_metrics(collect()), "text/plain; version=0.0.4; charset=utf-8"));
        respond(make_response(http::status::not_found, "try /metrics or /healthz\n"));
    };
}

}  // namespace execaudit::net
