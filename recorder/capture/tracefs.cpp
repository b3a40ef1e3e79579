#include "recorder/capture/tracefs.h"

#include "common/errors.h"
#include "common/log.h"

#include <fmt/format.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace execaudit::recorder {

std::string ensure_tracefs() {
    if (::access("/sys/kernel/tracing/events/syscalls", F_OK) == 0) return "/sys/kernel/tracing";
    if (::access("/sys/kernel/debug/tracing/events/syscalls", F_OK) == 0) return "/sys/kernel/debug/tracing";
    if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0 && errno != EBUSY)
        throw RuntimeError(fmt::format("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: {}",
                                       std::strerror(errno)));
    if (::access("/sys/kernel/tracing/events/syscalls", F_OK) != 0)
        throw RuntimeError("tracefs at /sys/kernel/tracing has no events/syscalls: this kernel lacks syscall "
                           "tracepoints (CONFIG_FTRACE_SYSCALLS)");
    log::info("mounted tracefs at /sys/kernel/tracing");
    return "/sys/kernel/tracing";
}

}  // namespace execaudit::recorder
