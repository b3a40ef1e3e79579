#include "recorder/capture/bpf_pins.h"

#include "common/errors.h"
#include "common/log.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <fcntl.h>
#include <unistd.h>

namespace execaudit::recorder {
namespace fs = std::filesystem;
namespace {

bool on_bpffs(const std::string& path) {
    struct statfs st {};
    return ::statfs(path.c_str(), &st) == 0 && static_cast<unsigned long>(st.f_type) == BPF_FS_MAGIC;
}

// bpffs names: letters, digits, '_', '-', '.'; a tag is 16 hex digits.
bool is_tag(const std::string& name) {
    if (name.size() != 16) return false;
    for (char c : name)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

void fnv(uint64_t& h, std::span<const std::byte> bytes) {
    for (std::byte b : bytes) {
        h ^= static_cast<uint8_t>(b);
        h *= 0x100000001b3ULL;
    }
}

}  // namespace

void ensure_bpffs(const std::string& dir) {
    if (!on_bpffs("/sys/fs/bpf") && dir.rfind("/sys/fs/bpf/", 0) == 0) {
        // systemd mounts it on most nodes; a minimal host (or a test VM) may not have
        if (::mount("bpffs", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0)
            throw RuntimeError(fmt::format("/sys/fs/bpf is not a bpffs and mounting one failed: {} (mount it on the node: "
                                           "`mount -t bpf bpffs /sys/fs/bpf`, or run with --no-bpf-pin)",
                                           std::strerror(errno)));
        log::info("mounted a bpffs at /sys/fs/bpf");
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw RuntimeError(fmt::format("cannot create the pin directory {}: {}", dir, ec.message()));
    if (!on_bpffs(dir))
        throw RuntimeError(fmt::format("the pin directory {} is not on a bpffs (mount one there, choose another "
                                       "--bpf-pin-dir, or run with --no-bpf-pin)", dir));
}

std::vector<std::string> pinned_tags(const std::string& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (is_tag(name) && it->is_directory(ec)) out.push_back(name);
    }
    return out;
}

size_t remove_pins(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(path, ec))) return 0;
    size_t pins = 0;
    std::vector<fs::path> dirs;
    // never follows a symlink: a link planted in the pin directory cannot make us unlink elsewhere
    for (fs::recursive_directory_iterator it(path, fs::directory_options::none, ec), end; !ec && it != end;
         it.increment(ec)) {
        auto st = it->symlink_status(ec);
        if (ec) break;
        if (fs::is_directory(st)) {
            dirs.push_back(it->path());
            continue;
        }
        if (::unlink(it->path().c_str()) != 0)
            throw RuntimeError(fmt::format("cannot unpin {}: {}", it->path().string(), std::strerror(errno)));
        ++pins;
    }
    if (ec) throw RuntimeError(fmt::format("cannot list the pins under {}: {}", path, ec.message()));
    for (auto d = dirs.rbegin(); d != dirs.rend(); ++d)
        if (::rmdir(d->c_str()) != 0 && errno != ENOENT)
            throw RuntimeError(fmt::format("cannot remove {}: {}", d->string(), std::strerror(errno)));
    if (fs::is_directory(fs::symlink_status(path, ec)) && ::rmdir(path.c_str()) != 0 && errno != ENOENT)
        throw RuntimeError(fmt::format("cannot remove {}: {}", path, std::strerror(errno)));
    return pins;
}

std::string pin_tag(std::span<const std::byte> object, std::span<const std::byte> rodata, uint64_t ring_bytes,
                    uint32_t cpus) {
    uint64_t h = 0xcbf29ce484222325ULL;
    fnv(h, object);
    fnv(h, rodata);
    fnv(h, std::as_bytes(std::span(&ring_bytes, 1)));
    fnv(h, std::as_bytes(std::span(&cpus, 1)));
    return fmt::format("{:016x}", h);
}

PinLock::PinLock(const std::string& dir) {
    fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) throw RuntimeError(fmt::format("cannot open the pin directory {}: {}", dir, std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        ::close(fd_);
        fd_ = -1;
        if (err == EWOULDBLOCK)
            throw RuntimeError(fmt::format("another recorder (or `execaudit detach`) holds {}: one recorder per pin "
                                           "directory", dir));
        throw RuntimeError(fmt::format("cannot lock the pin directory {}: {}", dir, std::strerror(err)));
    }
}

PinLock::~PinLock() {
    if (fd_ >= 0) ::close(fd_);
}

}  // namespace execaudit::recorder
