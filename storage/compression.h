#pragma once
// zstd for terminal chunks: shell output compresses 5-10x, and fast.

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>

namespace execaudit::storage {

std::string zstd_compress(std::string_view raw, int level);

/// Decompresses into exactly `raw_size` bytes (at most `limit`): a damaged or hostile blob
/// gives an error, never an unbounded allocation.
std::expected<std::string, std::string> zstd_decompress(std::string_view compressed, size_t raw_size,
                                                         size_t limit = 64u << 20);

}  // namespace execaudit::storage
