#pragma once
// Bytes from a container are hostile: these turn them into text that is safe to store as
// UTF-8 and safe to print on an operator's terminal.

#include <string>
#include <string_view>
#include <vector>

namespace execaudit {

/// Valid UTF-8 with every invalid sequence replaced by U+FFFD (common/utf8.h has the policy).
/// For JSON and protobuf strings.
std::string utf8_lossy(std::string_view bytes);

/// Printable on a terminal: control characters (C0, DEL, C1), backslashes and invalid UTF-8
/// become escapes (\n, \t, \e, \\, \xNN); valid printable UTF-8 is kept. Never emits ESC.
std::string terminal_safe(std::string_view bytes);

/// One CSV cell (RFC 4180), safe in a spreadsheet and on a terminal: control characters and
/// invalid UTF-8 are escaped as in terminal_safe(); a cell that a spreadsheet would run as a
/// formula (first character, after leading spaces, one of = + - @ TAB CR; OWASP's rule) gets a
/// leading single quote, unless the whole cell is a plain number such as "-1"; cells holding
/// a comma, quote or space at either end are quoted. Every CSV execaudit writes uses it.
std::string csv_cell(std::string_view bytes);

/// Splits "a\0b\0" into {"a", "b"} (a trailing NUL does not add an empty element).
std::vector<std::string> split_nul(std::string_view bytes);

/// Joins argv for display and search: arguments separated by spaces; arguments containing
/// spaces, quotes or nothing at all are single-quoted, shell style.
std::string join_argv(const std::vector<std::string>& argv);

}  // namespace execaudit
