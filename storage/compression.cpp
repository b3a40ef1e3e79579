#include "storage/compression.h"

#include <fmt/format.h>
#include <zstd.h>

namespace execaudit::storage {

void ZstdCompressor::FreeContext::operator()(ZSTD_CCtx* ctx) const { ZSTD_freeCCtx(ctx); }

ZstdCompressor::ZstdCompressor() : ctx_(ZSTD_createCCtx()) {}

std::optional<std::string_view> ZstdCompressor::compress(std::string_view raw, int level) {
    size_t bound = ZSTD_compressBound(raw.size());
    if (bound > capacity_) {
        buffer_ = std::make_unique_for_overwrite<char[]>(bound);
        capacity_ = bound;
    }
    size_t n = ZSTD_compressCCtx(ctx_.get(), buffer_.get(), capacity_, raw.data(), raw.size(), level);
    if (ZSTD_isError(n) || n >= raw.size()) return std::nullopt;
    return std::string_view(buffer_.get(), n);
}

std::expected<std::string, std::string> zstd_decompress(std::string_view compressed, size_t raw_size, size_t limit) {
    if (raw_size > limit) return std::unexpected(fmt::format("chunk claims {} bytes, over the {} limit", raw_size, limit));
    std::string out(raw_size, '\0');
    size_t n = ZSTD_decompress(out.data(), out.size(), compressed.data(), compressed.size());
    if (ZSTD_isError(n)) return std::unexpected(fmt::format("zstd: {}", ZSTD_getErrorName(n)));
    if (n != raw_size) return std::unexpected(fmt::format("chunk decompressed to {} bytes, expected {}", n, raw_size));
    return out;
}

}  // namespace execaudit::storage
