#include "export/jsonl_file.h"

#include "common/file_mode.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace execaudit::exporting {

JsonlFile::JsonlFile(Options options) : options_(std::move(options)), name_("jsonl " + options_.path) {}

std::expected<void, std::string> JsonlFile::open() {
    // 0640 (whatever the umask): readable by a shipper running in the file's group; session
    // contents are sensitive.
    fd_ = open_or_create(options_.path, O_RDWR | O_APPEND, 0640);
    if (!fd_) return std::unexpected(fmt::format("cannot open {}: {}", options_.path, std::strerror(errno)));
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) return std::unexpected(fmt::format("{}: {}", options_.path, std::strerror(errno)));
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0) {
        // A crash in the middle of a write leaves a partial line: end it, so the next record
        // starts a line of its own (the partial one is sent again, whole, from the cursor).
        char last = '\n';
        if (::pread(fd_.get(), &last, 1, st.st_size - 1) == 1 && last != '\n') {
            if (auto w = write_all("\n"); !w) return w;
        }
    }
    return {};
}

std::expected<void, std::string> JsonlFile::write_all(std::string_view bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::unexpected(fmt::format("writing {}: {}", options_.path, std::strerror(errno)));
        done += static_cast<size_t>(n);
    }
    size_ += bytes.size();
    return {};
}

std::expected<void, std::string> JsonlFile::rotate() {
    if (::fdatasync(fd_.get()) != 0) return std::unexpected(fmt::format("syncing {}: {}", options_.path, std::strerror(errno)));
    for (unsigned i = options_.keep; i >= 1; --i) {
        std::string from = i == 1 ? options_.path : fmt::format("{}.{}", options_.path, i - 1);
        std::string to = fmt::format("{}.{}", options_.path, i);
        if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
            return std::unexpected(fmt::format("rotating {} to {}: {}", from, to, std::strerror(errno)));
    }
    if (options_.keep == 0) ::unlink(options_.path.c_str());
    ++rotations_;
    return open();
}

std::expected<void, std::string> JsonlFile::send(std::span<const v1::ExportRecord> records, int64_t upto) {
    if (!fd_) return std::unexpected(options_.path + " is not open");
    std::string pending;
    auto flush = [&]() -> std::expected<void, std::string> {
        auto w = write_all(pending);
        pending.clear();
        return w;
    };
    for (const auto& r : records) {
        std::string line = jsonl_line(r, options_.style);
        if (size_ + pending.size() + line.size() > options_.max_bytes && size_ + pending.size() > 0) {
            if (auto w = flush(); !w) return w;
            if (auto w = rotate(); !w) return w;
        }
        pending += line;
    }
    if (auto w = flush(); !w) return w;
    if (::fdatasync(fd_.get()) != 0) return std::unexpected(fmt::format("syncing {}: {}", options_.path, std::strerror(errno)));
    confirmed_ = upto;
    return {};
}

}  // namespace execaudit::exporting
