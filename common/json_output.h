#pragma once
// JSON for people and SIEMs. nlohmann::json's dump() escapes C0 controls but writes DEL and the
// C1 controls (U+0080..U+009F; U+009B is a CSI for many terminals) raw, so `sessions --format
// json | less -R` or a SIEM console could act on a recorded name. Every JSON execaudit prints or
// ships goes through dump_json_safe() instead.

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace execaudit {

/// `value` as JSON text (indent as nlohmann's dump(): -1 for one line) with every C0 control, DEL
/// and C1 control written as \u00XX; invalid UTF-8 becomes U+FFFD instead of throwing.
/// `ascii_only`: every non-ASCII character as \uXXXX as well.
std::string dump_json_safe(const nlohmann::json& value, int indent = -1, bool ascii_only = false);

}  // namespace execaudit
