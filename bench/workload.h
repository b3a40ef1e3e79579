#pragma once
// What the benchmarks make sessions print.

#include <string>

namespace execaudit::bench {

/// A file of log-like text (lines of varying length, a fixed seed): the tty's \n -> \r\n and the
/// compressor both see what a real session prints.
void write_text_file(const std::string& path, size_t bytes);

}  // namespace execaudit::bench
