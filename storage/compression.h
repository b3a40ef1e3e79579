#pragma once
// zstd for terminal chunks: shell output compresses 5-10x, and fast.

#include <cstddef>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct ZSTD_CCtx_s;  // zstd's context, declared by zstd.h

namespace execaudit::storage {

/// A reusable compression context: creating one per chunk costs as much as compressing it.
class ZstdCompressor {
public:
    ZstdCompressor();
    ZstdCompressor(const ZstdCompressor&) = delete;
    ZstdCompressor& operator=(const ZstdCompressor&) = delete;
    /// The compressed bytes (valid until the next call), or nullopt when compression would not
    /// shrink `raw`.
    std::optional<std::string_view> compress(std::string_view raw, int level);

private:
    std::unique_ptr<char[]> buffer_;  // grows, never zero-filled
    size_t capacity_ = 0;
    struct FreeContext {
        void operator()(ZSTD_CCtx_s* ctx) const;
    };
    std::unique_ptr<ZSTD_CCtx_s, FreeContext> ctx_;
};

/// Decompresses into exactly `raw_size` bytes (at most `limit`): a damaged or hostile blob
/// gives an error, never an unbounded allocation.
std::expected<std::string, std::string> zstd_decompress(std::string_view compressed, size_t raw_size,
                                                         size_t limit = 64u << 20);

}  // namespace execaudit::storage
