#pragma once
// JSON lines: one ExportRecord per line in execaudit.proto's JSON form (proto field names,
// every field present, unset optional fields as null, 64-bit numbers as numbers), or the same
// facts in Elastic Common Schema fields (--ecs). Always valid UTF-8; never a raw newline inside.

#include "execaudit.pb.h"

#include <nlohmann/json.hpp>

#include <string>

namespace execaudit::exporting {

enum class JsonStyle {
    proto,  ///< execaudit.proto's JSON mapping (docs/export.md)
    ecs,    ///< Elastic Common Schema fields (process.args, user.name, orchestrator.namespace, ...)
};

/// One line, '\n'-terminated. `ascii_only`: non-ASCII characters as \uXXXX escapes (for syslog).
std::string jsonl_line(const v1::ExportRecord& record, JsonStyle style, bool ascii_only = false);

}  // namespace execaudit::exporting
