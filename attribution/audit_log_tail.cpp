#include "attribution/audit_log_tail.h"

#include "common/log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace execaudit::attribution {
namespace {

constexpr size_t kReadPerPoll = 1u << 20;  // at most this much per poll: the loop stays responsive
constexpr size_t kMaxLine = 4u << 20;      // a longer line is skipped (counted): exec events are ~2 KiB
constexpr size_t kCheckBytes = 4096;       // the bytes before our offset (about the last event), to notice a rewrite

/// Opens without ever blocking (a FIFO at the path would block open() on the recorder's loop)
/// and keeps only a regular file: a FIFO, a device or a socket is refused.
int open_regular(const std::string& path, struct stat& st, std::string& why) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        why = std::strerror(errno);
        return -1;
    }
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        why = "not a regular file (a FIFO, a device or a socket): refused";
        ::close(fd);
        return -1;
    }
    return fd;
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

void AuditLogTail::set_offset(uint64_t offset) {
    offset_ = offset;
    check_.clear();
    if (offset_ == 0) return;
    size_t n = static_cast<size_t>(std::min<uint64_t>(offset_, kCheckBytes));
    check_.resize(n);
    if (::pread(fd_, check_.data(), n, static_cast<off_t>(offset_ - n)) != static_cast<ssize_t>(n)) check_.clear();
}

void AuditLogTail::remember_consumed(std::string_view consumed) {
    if (consumed.size() >= kCheckBytes) {
        check_.assign(consumed.substr(consumed.size() - kCheckBytes));
    } else {
        check_ += consumed;
        if (check_.size() > kCheckBytes) check_.erase(0, check_.size() - kCheckBytes);
    }
}

bool AuditLogTail::rewritten() const {
    if (offset_ == 0 || check_.empty()) return false;
    std::string now(check_.size(), '\0');
    ssize_t n = ::pread(fd_, now.data(), now.size(), static_cast<off_t>(offset_ - check_.size()));
    return n != static_cast<ssize_t>(now.size()) || now != check_;
}

bool AuditLogTail::reopen_rotated_original() {
    struct stat st{};
    if (::stat(path_.c_str(), &st) == 0 && st.st_ino == resume_->inode) {
        // Same file as before: continue where we were, unless it was truncated meanwhile.
        if (!open_current()) return false;
        set_offset(resume_->offset <= static_cast<uint64_t>(st.st_size) ? resume_->offset : 0);
        return true;
    }
    std::error_code ec;
    auto dir = std::filesystem::path(path_).parent_path();
    for (auto it = std::filesystem::directory_iterator(dir.empty() ? "." : dir, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
        struct stat cand{};
        if (::stat(it->path().c_str(), &cand) != 0 || cand.st_ino != resume_->inode || !S_ISREG(cand.st_mode)) continue;
        std::string why;
        int fd = open_regular(it->path().string(), cand, why);
        if (fd < 0) continue;
        if (cand.st_ino != resume_->inode) {  // replaced between stat and open
            ::close(fd);
            continue;
        }
        fd_ = fd;
        inode_ = cand.st_ino;
        set_offset(resume_->offset <= static_cast<uint64_t>(cand.st_size) ? resume_->offset : 0);
        log::info("audit log: finishing {} (rotated while the recorder was stopped) from byte {}", it->path().string(), offset_);
        return true;
    }
    return false;  // the old file is gone: start on the current one
}

bool AuditLogTail::open_current() {
    struct stat st{};
    std::string why;
    int fd = open_regular(path_, st, why);
    if (fd < 0) {
        if (why != warned_) log::warn("audit log {}: {}; waiting for a regular file there", path_, why);
        warned_ = why;
        return false;
    }
    warned_.clear();
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    inode_ = st.st_ino;
    offset_ = 0;
    check_.clear();
    discarding_ = false;
    return true;
}

void AuditLogTail::poll() {
    if (!running_) return;
    if (busy_ && busy_()) {  // correlation is full: the lines wait in the file, not in memory
        timer_.expires_after(interval_);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) poll();
        });
        return;
    }
    if (fd_ < 0) open_current();
    bool more = false;
    if (fd_ >= 0) {
        // Truncated in place (copytruncate) first: shorter than our offset, or different bytes
        // before it (new lines written past our offset before this poll).
        struct stat mine{};
        ::fstat(fd_, &mine);
        if (static_cast<uint64_t>(mine.st_size) < offset_ || rewritten()) {
            log::info("audit log {} was truncated (copytruncate); reading it from the start", path_);
            offset_ = 0;
            check_.clear();
            discarding_ = false;
        }
        more = read_available();
        struct stat now{};
        if (!more && ::stat(path_.c_str(), &now) == 0 && static_cast<uint64_t>(now.st_ino) != inode_) {
            // Rotated by rename: the old file is complete (its writer closed it) and drained.
            log::info("audit log {} was rotated; following the new file", path_);
            if (open_current()) more = read_available();
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

        size_t consumed = 0;
        if (discarding_) {  // inside an over-long line: drop it up to its end
            size_t nl = buf.find('\n');
            if (nl == std::string_view::npos) {
                remember_consumed(buf);
                offset_ += buf.size();
                return full_read;
            }
            consumed = nl + 1;
            discarding_ = false;
        }
        size_t first_nl = buf.find('\n', consumed);
        if (first_nl == std::string_view::npos) {
            if (consumed > 0) {  // the end of a skipped line, and the start of the next
                remember_consumed(buf.substr(0, consumed));
                offset_ += consumed;
                return true;
            }
            if (!full_read) return false;  // a partial line: wait for the rest of it
            if (want < kMaxLine) {         // a long line: read more of it at once
                want *= 2;
                continue;
            }
            ++lines_too_long_;
            log::warn("audit log {}: a line longer than {} bytes at byte {} is skipped ({} so far)", path_, kMaxLine, offset_,
                      lines_too_long_);
            remember_consumed(buf);
            offset_ += buf.size();
            discarding_ = true;
            return true;
        }

        Batch batch;
        size_t malformed = 0;
        for (size_t nl = first_nl; nl != std::string_view::npos; nl = buf.find('\n', consumed)) {
            std::string_view line = buf.substr(consumed, nl - consumed);
            size_t line_offset = offset_ + consumed;
            consumed = nl + 1;
            if (line.empty()) continue;
            auto e = parse_audit_log_line(line);
            if (!e) {
                if (++malformed <= 3) log::warn("audit log {}: line at byte {} skipped: {}", path_, line_offset, e.error());
            } else if (*e) {
                batch.events.push_back(std::move(**e));
            }
        }
        remember_consumed(buf.substr(0, consumed));
        offset_ += consumed;
        batch.cursor = storage::LogCursorRecord{path_, inode_, offset_};
        sink_(std::move(batch));
        return full_read;
    }
}

}  // namespace execaudit::attribution
