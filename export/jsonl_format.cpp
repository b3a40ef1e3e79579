#include "export/jsonl_format.h"

#include "common/json_output.h"
#include "export/ecs_format.h"
#include "proto_json.h"

namespace execaudit::exporting {

namespace {

nlohmann::json record_json(const v1::ExportRecord& record, JsonStyle style) {
    if (style == JsonStyle::ecs) return to_ecs(record);
    auto j = proto::to_json(record);
    if (j.contains("session")) j["session"].erase("timeline");  // `show` has it; records do not
    return j;
}

}  // namespace

std::string jsonl_line(const v1::ExportRecord& record, JsonStyle style, bool ascii_only) {
    // Strings were made valid UTF-8 when the record was built; U+FFFD stays as a last guard.
    return dump_json_safe(record_json(record, style), -1, ascii_only) + "\n";
}

}  // namespace execaudit::exporting
