#pragma once
// JSON for execaudit.proto messages: protobuf's own printer (proto field names, every field
// present), then two adjustments users and scripts expect from cli.md:
//  - unset `optional` fields print as null ("end": null while a session is open);
//  - 64-bit integers print as JSON numbers, not the proto3 mapping's strings.
// Both are accepted back by protobuf's JSON parser, so output still round-trips.

#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

namespace execaudit::proto {

nlohmann::json to_json(const google::protobuf::Message& message);

}  // namespace execaudit::proto
