#include "recorder/metrics.h"

#include <fmt/format.h>

namespace execaudit::recorder {
namespace http = boost::beast::http;

std::string render_metrics(const std::vector<Metric>& metrics) {
    std::string out;
    for (const auto& m : metrics) {
        out += fmt::format("# HELP execaudit_{} {}\n# TYPE execaudit_{} {}\nexecaudit_{} {}\n", m.name, m.help, m.name, m.type,
                           m.name, m.value);
    }
    return out;
}

HttpHandler make_metrics_handler(std::function<std::vector<Metric>()> collect) {
    return [collect = std::move(collect)](const HttpRequest& request, Respond respond) {
        std::string_view target(request.target().data(), request.target().size());
        if (target == "/healthz") return respond(make_response(http::status::ok, "ok\n"));
        if (target == "/metrics")
            return respond(make_response(http::status::ok, render_metrics(collect()), "text/plain; version=0.0.4; charset=utf-8"));
        respond(make_response(http::status::not_found, "try /metrics or /healthz\n"));
    };
}

}  // namespace execaudit::recorder
