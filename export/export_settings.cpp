#include "export/export_settings.h"

#include "common/errors.h"
#include "export/jsonl_file.h"
#include "export/syslog_destination.h"
#include "export/exporter.h"

namespace execaudit::exporting {

std::vector<std::unique_ptr<Exporter>> make_exporters(const ExportSettings& s, const std::string& db_path) {
    auto style = s.ecs ? exporting::JsonStyle::ecs : exporting::JsonStyle::proto;
    std::vector<std::unique_ptr<Exporter>> out;
    if (!s.jsonl_path.empty()) {
        exporting::JsonlFile::Options o{.path = s.jsonl_path, .max_bytes = s.jsonl_max_bytes, .keep = s.jsonl_keep, .style = style};
        auto file = std::make_unique<exporting::JsonlFile>(o);
        if (auto opened = file->open(); !opened) throw UsageError("--export-jsonl: " + opened.error());
        file->close();
        out.push_back(std::make_unique<Exporter>(Exporter::Options{.db_path = db_path}, std::move(file)));
    }
    if (!s.syslog_url.empty()) {
        auto o = exporting::syslog_options("--export-syslog", s.syslog_url,
                                           {.ca_file = s.syslog_ca, .cert_file = s.syslog_cert, .key_file = s.syslog_key}, style);
        o.settle = std::chrono::milliseconds(s.syslog_settle_ms);
        out.push_back(std::make_unique<Exporter>(Exporter::Options{.db_path = db_path},
                                                 std::make_unique<exporting::SyslogDestination>(std::move(o))));
    }
    return out;
}

}  // namespace execaudit::exporting
