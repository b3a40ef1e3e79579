#pragma once
// Sessions that began before the very first recorder (nothing pinned yet): found in /proc as
// the container scan sees them (a process that entered a pod container after its init; an init,
// even on a terminal, is the workload), made members of a session in the kernel so that what they and their
// children do from now on is recorded, and stored with a recorder gap from their start.

#include "recorder/capture/capture.h"
#include "recorder/capture/session_tracker.h"
#include "recorder/pods/cgroup_fs.h"

#include <cstddef>
#include <vector>

namespace execaudit::recorder {

/// After Capture::start(). Processes the kernel side already follows (a pinned predecessor's
/// sessions) are left alone. Returns how many sessions were adopted.
size_t adopt_older_sessions(Capture& capture, SessionTracker& tracker, const CgroupFs& cgroups,
                            const std::vector<CgroupRoot>& roots);

/// /proc/PID/cmdline as argv: at most 256 arguments and 32 KiB; `truncated` says when cut.
std::vector<std::string> read_cmdline(uint32_t pid, bool& truncated);

}  // namespace execaudit::recorder
