#pragma once
// The Elastic Common Schema view of an export record (--ecs), for SIEMs that map ECS fields
// directly (Elastic, Sentinel's ASIM via ECS, ...). Fields: docs/export.md.

#include "execaudit.pb.h"

#include <nlohmann/json.hpp>

namespace execaudit::exporting {

/// ECS version the mapping follows.
inline constexpr const char* kEcsVersion = "8.11.0";

nlohmann::json to_ecs(const v1::ExportRecord& record);

}  // namespace execaudit::exporting
