#include "recorder/capture/session_adoption.h"

#include "common/log.h"
#include "recorder/capture/boot_clock.h"
#include "recorder/pods/container_scan.h"

#include <fmt/format.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <deque>
#include <map>

namespace execaudit::recorder {
namespace {

constexpr size_t kMaxArgs = 256;
constexpr size_t kMaxArgBytes = 32 * 1024;

// A pty slave (majors 136-143) or /dev/tty, as the kernel side tests it.
bool on_terminal(uint32_t pid, int fd) {
    struct stat st {};
    if (::stat(fmt::format("/proc/{}/fd/{}", pid, fd).c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) return false;
    unsigned major_no = major(st.st_rdev);
    return (major_no >= 136 && major_no <= 143) || st.st_rdev == makedev(5, 0);
}

uint64_t start_boot_ns(uint64_t start_ticks) {
    static const long ticks_per_s = sysconf(_SC_CLK_TCK);
    return start_ticks * static_cast<uint64_t>(1'000'000'000 / ticks_per_s);
}

}  // namespace

std::vector<std::string> read_cmdline(uint32_t pid, bool& truncated) {
    truncated = false;
    std::vector<std::string> argv;
    int fd = ::open(fmt::format("/proc/{}/cmdline", pid).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return argv;
    std::string buf(kMaxArgBytes + 1, '\0');
    size_t got = 0;
    for (ssize_t n; got < buf.size() && (n = ::read(fd, buf.data() + got, buf.size() - got)) > 0;) got += static_cast<size_t>(n);
    ::close(fd);
    if (got > kMaxArgBytes) {
        truncated = true;
        got = kMaxArgBytes;
    }
    buf.resize(got);
    size_t pos = 0;
    while (pos < buf.size()) {
        size_t end = buf.find('\0', pos);
        if (end == std::string::npos) {  // cut in the middle of an argument
            end = buf.size();
            truncated = truncated || got == kMaxArgBytes;
        }
        if (argv.size() == kMaxArgs) {
            truncated = true;
            break;
        }
        argv.push_back(buf.substr(pos, end - pos));
        pos = end + 1;
    }
    return argv;
}

size_t adopt_older_sessions(Capture& capture, SessionTracker& tracker, const CgroupFs& cgroups,
                            const std::vector<CgroupRoot>& roots) {
    size_t adopted = 0;
    for (const auto& c : scan_existing_containers(cgroups, roots)) {
        // Only what entered after the init: an init is the workload, even on a terminal (an older
        // attach or ephemeral shell is not told apart from a `tty: true` workload here)
        const std::vector<EnteredProcess>& leaders = c.execs;
        if (leaders.empty()) continue;
        std::multimap<uint32_t, uint32_t> children;  // ppid -> pid, inside this cgroup
        for (const auto& m : c.members) children.emplace(m.ppid, m.pid);
        for (const auto& leader : leaders) {
            if (capture.follows(leader.pid)) continue;  // a session the kernel side already knows
            uint64_t id = capture.new_adopted_session_id();
            if (!capture.follow(leader.pid, id, leader.pid)) {
                log::warn("pid {} in {} began before the recorder and cannot be followed (session table full?): not "
                          "recorded", leader.pid, c.path);
                continue;
            }
            // its processes that already run; those it forks from now on follow by themselves
            std::deque<uint32_t> todo{leader.pid};
            size_t members = 1;
            while (!todo.empty()) {
                uint32_t parent = todo.front();
                todo.pop_front();
                for (auto [it, end] = children.equal_range(parent); it != end; ++it) {
                    if (it->second == leader.pid) continue;
                    if (capture.follow(it->second, id, leader.pid)) ++members;
                    todo.push_back(it->second);
                }
            }
            SessionTracker::Adopted a;
            a.kernel_id = id;
            a.pid = leader.pid;
            a.cgroup_id = c.cgroup_id;
            a.start_boot_ns = start_boot_ns(leader.start_ticks);
            a.argv = read_cmdline(leader.pid, a.argv_truncated);
            a.tty = on_terminal(leader.pid, 0) || on_terminal(leader.pid, 1);
            tracker.adopt(a, BootClock::now_boot_ns());
            log::info("adopted pid {} in {} ({} processes)", leader.pid, c.path, members);
            ++adopted;
        }
    }
    return adopted;
}

}  // namespace execaudit::recorder
