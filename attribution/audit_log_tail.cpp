#include "attribution/audit_log_tail.h"

#include "common/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace execaudit::attribution {
namespace {

constexpr size_t kReadPerPoll = 8u << 20;    // at most this much per poll: the loop stays responsive
constexpr size_t kMaxLine = 16u << 20;       // a longer line is skipped as malformed

// We stop only after complete lines, so the byte before our offset is a newline, unless the
// file was truncated and written again past our offset between two polls.
bool ends_a_line(int fd, uint64_t offset) {
    if (offset == 0) return true;
    char c = 0;
    return ::pread(fd, &c, 1, static_cast<off_t>(offset - 1)) != 1 || c == '\n';
}

}  // namespace

AuditLogTail::AuditLogTail(boost::asio::io_context& io, std::string path, std::optional<storage::LogCursorRecord> resume,
                           Sink sink, std::chrono::milliseconds interval)
    : io_(io), path_(std::move(path)), resume_(std::move(resume)), sink_(std::move(sink)), interval_(interval), timer_(io) {}

void AuditLogTail::start() {
    running_ = true;
    // Rotated while we were down: finish the old file (found by inode) before the new one.
    if (resume_ && !reopen_rotated_original()) open_current();
    else if (!resume_) open_current();
    poll();
}

void AuditLogTail::stop() {
    running_ = false;
    timer_.cancel();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

bool AuditLogTail::reopen_rotated_original() {
    struct stat st{};
    if (::stat(path_.c_str(), &st) == 0 && st.st_ino == resume_->inode) {
        // Same file as before: continue where we were, unless it was truncated meanwhile.
        if (!open_current()) return false;
        offset_ = resume_->offset <= static_cast<uint64_t>(st.st_size) ? resume_->offset : 0;
        return true;
    }
    std::error_code ec;
    auto dir = std::filesystem::path(path_).parent_path();
    for (auto it = std::filesystem::directory_iterator(dir.empty() ? "." : dir, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
        struct stat cand{};
        if (::stat(it->path().c_str(), &cand) != 0 || cand.st_ino != resume_->inode || !S_ISREG(cand.st_mode)) continue;
        int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        fd_ = fd;
        inode_ = cand.st_ino;
        offset_ = resume_->offset <= static_cast<uint64_t>(cand.st_size) ? resume_->offset : 0;
        log::info("audit log: finishing {} (rotated while the recorder was stopped) from byte {}", it->path().string(), offset_);
        return true;
    }
    return false;  // the old file is gone: start on the current one
}

bool AuditLogTail::open_current() {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (!warned_missing_) log::warn("audit log {} does not exist (yet); waiting for it", path_);
        warned_missing_ = true;
        return false;
    }
    warned_missing_ = false;
    struct stat st{};
    ::fstat(fd, &st);
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    inode_ = st.st_ino;
    offset_ = 0;
    discarding_ = false;
    return true;
}

void AuditLogTail::poll() {
    if (!running_) return;
    if (fd_ < 0) open_current();
    bool more = false;
    if (fd_ >= 0) {
        // Truncated in place (copytruncate) first: reading on from the old offset would take the
        // middle of a new line for the rest of an old one.
        struct stat mine{};
        ::fstat(fd_, &mine);
        if (static_cast<uint64_t>(mine.st_size) < offset_ || !ends_a_line(fd_, offset_)) {
            log::info("audit log {} was truncated (copytruncate); reading it from the start", path_);
            offset_ = 0;
            discarding_ = false;
        }
        more = read_available();
        struct stat now{};
        if (!more && ::stat(path_.c_str(), &now) == 0 && static_cast<uint64_t>(now.st_ino) != inode_) {
            // Rotated by rename: the old file is complete (its writer closed it) and drained.
            log::info("audit log {} was rotated; following the new file", path_);
            open_current();
            more = read_available();
        }
    }
    // A backlog (a first start on a large log) is read a slice per turn: the same loop drains
    // the kernel's ring buffer and must not wait behind it.
    timer_.expires_after(more ? std::chrono::milliseconds(0) : interval_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) poll();
    });
}

bool AuditLogTail::read_available() {
    size_t want = kReadPerPoll;
    for (;;) {
        struct stat st{};
        if (::fstat(fd_, &st) != 0 || static_cast<uint64_t>(st.st_size) <= offset_) return false;
        // Only what is there: an idle poll costs an fstat, not a buffer fill.
        size_t avail = static_cast<size_t>(static_cast<uint64_t>(st.st_size) - offset_);
        buf_.resize(std::min(want, avail));
        ssize_t n = ::pread(fd_, buf_.data(), buf_.size(), static_cast<off_t>(offset_));
        if (n <= 0) return false;
        buf_.resize(static_cast<size_t>(n));
        bool full_read = static_cast<size_t>(n) == want;
        std::string_view buf(buf_);

        size_t first_nl = buf.find('\n');
        if (first_nl == std::string_view::npos) {
            if (discarding_) {  // still inside an over-long line: drop what we have of it
                offset_ += buf.size();
                return full_read;
            }
            if (!full_read) return false;  // a partial line: wait for the rest of it
            if (want <= kMaxLine) {        // a long line: read more of it at once
                want *= 2;
                continue;
            }
            log::warn("audit log {}: a line longer than {} bytes at byte {} is skipped", path_, kMaxLine, offset_);
            offset_ += buf.size();
            discarding_ = true;
            return true;
        }

        Batch batch;
        size_t malformed = 0;
        size_t consumed = 0;  // bytes of complete lines in buf
        for (size_t nl = first_nl; nl != std::string_view::npos; nl = buf.find('\n', consumed)) {
            std::string_view line = buf.substr(consumed, nl - consumed);
            size_t line_offset = offset_ + consumed;
            consumed = nl + 1;
            if (discarding_) {  // the tail of an over-long line
                discarding_ = false;
                continue;
            }
            if (line.empty()) continue;
            auto e = parse_audit_log_line(line);
            if (!e) {
                if (++malformed <= 3) log::warn("audit log {}: line at byte {} skipped: {}", path_, line_offset, e.error());
            } else if (*e) {
                batch.events.push_back(std::move(**e));
            }
        }
        offset_ += consumed;
        batch.cursor = storage::LogCursorRecord{path_, inode_, offset_};
        sink_(std::move(batch));
        return full_read;
    }
}

}  // namespace execaudit::attribution
