#include "common/file_mode.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

namespace execaudit {

UniqueFd open_or_create(const std::string& path, int flags, mode_t mode) {
    flags = (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC;
    // Create-exclusive, else open what is there; retried when the file vanishes or appears between.
    for (int attempt = 0; attempt < 8; ++attempt) {
        UniqueFd fd(::open(path.c_str(), flags | O_CREAT | O_EXCL, mode));
        if (fd) {
            // The umask may have removed bits of `mode`: set it exactly. A new file is ours alone.
            if (::fchmod(fd.get(), mode) != 0) {
                int saved = errno;
                ::unlink(path.c_str());
                errno = saved;
                return {};
            }
            return fd;
        }
        if (errno != EEXIST) return {};
        fd.reset(::open(path.c_str(), flags));
        if (fd || errno != ENOENT) return fd;
    }
    errno = EAGAIN;
    return {};
}

}  // namespace execaudit
