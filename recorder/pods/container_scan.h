#pragma once
// At start-up, containers already run: their inits must be known before the BPF programs see
// anything, or an exec into them would be mistaken for their init. For each cgroup below the
// pod roots, the processes whose parent is outside the cgroup "entered" it; the oldest is the
// init, any others are exec sessions that began before the recorder.

#include "recorder/pods/cgroup_fs.h"

#include <cstdint>
#include <string>
#include <vector>

namespace execaudit::recorder {

struct EnteredProcess {
    uint32_t pid = 0;
    uint64_t start_ticks = 0;  ///< /proc/<pid>/stat field 22
};

struct ExistingContainer {
    std::string path;
    uint64_t cgroup_id = 0;
    EnteredProcess init;
    std::vector<EnteredProcess> execs;  ///< entered after the init: sessions older than the recorder
    struct Member {
        uint32_t pid = 0, ppid = 0;
    };
    std::vector<Member> members;  ///< every process in the cgroup, with its parent (adoption finds descendants)
};

std::vector<ExistingContainer> scan_existing_containers(const CgroupFs& cgroups, const std::vector<CgroupRoot>& roots);

struct ProcStat {
    uint32_t ppid = 0;
    uint64_t start_ticks = 0;
};
/// Parses /proc/<pid>/stat (the comm field may hold spaces and parentheses).
std::optional<ProcStat> read_proc_stat(uint32_t pid);

}  // namespace execaudit::recorder
