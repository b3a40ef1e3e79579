#include "recorder/pods/container_scan.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace execaudit::recorder {

std::optional<ProcStat> read_proc_stat(uint32_t pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    size_t close = line.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(line.substr(close + 1));
    // fields from 3 on: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
    // utime stime cutime cstime priority nice num_threads itrealvalue starttime
    std::string state;
    ProcStat st;
    rest >> state >> st.ppid;
    std::string skip;
    for (int field = 5; field < 22; ++field) rest >> skip;
    rest >> st.start_ticks;
    if (!rest) return std::nullopt;
    return st;
}

std::vector<ExistingContainer> scan_existing_containers(const CgroupFs& cgroups, const std::vector<CgroupRoot>& roots) {
    std::vector<ExistingContainer> out;
    for (const auto& root : roots) {
        for (const auto& path : cgroups.walk(root.path)) {
            auto pids = cgroups.procs(path);
            if (pids.empty()) continue;
            std::vector<EnteredProcess> entered;
            std::vector<ExistingContainer::Member> members;
            for (uint32_t pid : pids) {
                auto st = read_proc_stat(pid);
                if (!st) continue;  // exited meanwhile
                members.push_back({pid, st->ppid});
                auto parent_cgroup = st->ppid ? cgroup_of_pid(st->ppid) : std::nullopt;
                if (parent_cgroup && cgroup_within(*parent_cgroup, path)) continue;  // the workload's own child
                entered.push_back({pid, st->start_ticks});
            }
            if (entered.empty()) continue;
            std::sort(entered.begin(), entered.end(), [](const auto& a, const auto& b) {
                return a.start_ticks != b.start_ticks ? a.start_ticks < b.start_ticks : a.pid < b.pid;
            });
            auto id = cgroups.id_of(path);
            if (!id) continue;
            ExistingContainer c;
            c.path = path;
            c.cgroup_id = *id;
            c.init = entered.front();
            c.execs.assign(entered.begin() + 1, entered.end());
            c.members = std::move(members);
            out.push_back(std::move(c));
        }
    }
    return out;
}

}  // namespace execaudit::recorder
