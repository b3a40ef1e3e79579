#pragma once
// Stored records as execaudit.proto messages: the one place where database columns meet the
// schema's field names. Raw bytes become valid UTF-8 here (invalid sequences -> U+FFFD).

#include "execaudit.pb.h"
#include "storage/records.h"

#include <vector>

namespace execaudit::storage {

/// A stored JSON array of strings (groups_json, source_ips_json, ...): its strings, raw; nothing
/// for text that is not such an array.
std::vector<std::string> json_string_array(const std::string& json_text);

execaudit::v1::Session to_proto(const SessionRecord& session);
execaudit::v1::Command to_proto(const CommandRecord& command);
execaudit::v1::Request to_proto(const ExecRequestRecord& request);
/// The session with its `timeline` and, from its matched request or its candidates, the whole
/// identity of who asked (what `show` prints).
execaudit::v1::Session to_proto(const SessionRecord& session, const std::vector<CommandRecord>& timeline,
                                const std::vector<ExecRequestRecord>& requests);

}  // namespace execaudit::storage
