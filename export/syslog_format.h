#pragma once
// Syslog messages for SIEMs: RFC 5424, framed by octet counting (RFC 6587 3.4.1) for TCP/TLS.
//
//   <86>1 2024-10-29T12:21:44.189258Z node-1 execaudit - command [execaudit@32473 record_id="..."
//   kind="command" session_id="..." user="alice" namespace="shop" pod="web" container="app"
//   command="cat /etc/shadow" retval="0"] {"record_id":...}
//
// The structured data carries what a SIEM filters on; MSG carries the whole record as JSON
// (ASCII only, so it is valid without a BOM). Field list: docs/export.md.

#include "execaudit.pb.h"
#include "export/jsonl_format.h"

#include <string>
#include <string_view>

namespace execaudit::exporting {

/// The SD-ID of our structured data. 32473 is the private enterprise number RFC 5612 reserves
/// for documentation; a deployment that needs its own can change it here.
inline constexpr const char* kSyslogSdId = "execaudit@32473";

struct SyslogFormat {
    int facility = 10;  ///< authpriv: security/authorization messages
    std::string app_name = "execaudit";
    JsonStyle style = JsonStyle::proto;
    size_t max_sd_value_bytes = 1024;  ///< longer values (a long argv) are cut in SD; MSG has all
};

/// One RFC 5424 message (no framing, no trailing newline).
std::string syslog_message(const v1::ExportRecord& record, const SyslogFormat& format);

/// RFC 6587 octet-counting frame: "<length> <message>".
std::string octet_counted(std::string_view message);

/// A PARAM-VALUE: valid UTF-8, '"', '\' and ']' escaped, control characters (C0, DEL, C1) replaced
/// by a space, at most `max_bytes` (cut on a character boundary). Exposed for tests.
std::string sd_param_value(std::string_view text, size_t max_bytes);

}  // namespace execaudit::exporting
