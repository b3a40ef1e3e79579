#pragma once
// Internal to recorder/pods: a Pod from an already parsed JSON value (the items of a PodList and the
// objects of watch events are parsed once, with the list or the event).

#include "recorder/pods/pod_spec.h"

#include <nlohmann/json.hpp>

namespace execaudit::recorder {

std::optional<PodInfo> pod_from_json(const nlohmann::json& object, std::string& error, const PodLimits& limits);

/// The string at `key` of an object, or "" when absent or not a string.
std::string json_string(const nlohmann::json& object, std::string_view key);

}  // namespace execaudit::recorder
