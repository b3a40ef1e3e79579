#include "export/export_settings.h"

#include "common/errors.h"
#include "export/jsonl_file.h"
#include "export/syslog_destination.h"
#include "export/exporter.h"

namespace execaudit::exporting {
namespace {
std::vector<std::unique_ptr<Exporter>> build(const ExportSettings& s, const std::function<std::unique_ptr<ExportSource>()>& make_source,
                                             const std::string& db_path);
}  // namespace

std::vector<std::unique_ptr<Exporter>> make_exporters(const ExportSettings& s, const std::string& db_path) {
    return build(s, {}, db_path);
}

std::vector<std::unique_ptr<Exporter>> make_exporters(const ExportSettings& s,
                                                      const std::function<std::unique_ptr<ExportSource>()>& make_source) {
    return build(s, make_source, "");
}

namespace {
std::vector<std::unique_ptr<Exporter>> build(const ExportSettings& s, const std::function<std::unique_ptr<ExportSource>()>& make_source,
                                             const std::string& db_path) {
    auto make = [&](std::unique_ptr<Destination> d) {
        return make_source ? std::make_unique<Exporter>(Exporter::Options{}, std::move(d), make_source())
                           : std::make_unique<Exporter>(Exporter::Options{.db_path = db_path}, std::move(d));
    };
    auto style = s.ecs ? exporting::JsonStyle::ecs : exporting::JsonStyle::proto;
    std::vector<std::unique_ptr<Exporter>> out;
    if (!s.jsonl_path.empty()) {
        exporting::JsonlFile::Options o{.path = s.jsonl_path, .max_bytes = s.jsonl_max_bytes, .keep = s.jsonl_keep, .style = style};
        auto file = std::make_unique<exporting::JsonlFile>(o);
        if (auto opened = file->open(); !opened) throw UsageError("--export-jsonl: " + opened.error());
        file->close();
        out.push_back(make(std::move(file)));
    }
    if (!s.syslog_url.empty()) {
        auto o = exporting::syslog_options("--export-syslog", s.syslog_url,
                                           {.ca_file = s.syslog_ca, .cert_file = s.syslog_cert, .key_file = s.syslog_key}, style);
        o.settle = std::chrono::milliseconds(s.syslog_settle_ms);
        out.push_back(make(std::make_unique<exporting::SyslogDestination>(std::move(o))));
    }
    return out;
}
}  // namespace

}  // namespace execaudit::exporting
