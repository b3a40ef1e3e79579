// libFuzzer target: a cgroup path (read from /proc/PID/cgroup or the cgroup tree). Its last
// parts are chosen by the runtime, and on a misconfigured node by anyone who can create cgroups.
#include "recorder/pods/cgroup_path.h"
#include "tests/fuzz/fuzz_check.h"

using namespace execaudit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string copy(fuzz::as_text(data, size));
    if (auto c = recorder::parse_container_cgroup(copy)) {
        fuzz::check(!c->pod_uid.empty() && !c->container_id.empty(), "a container without a pod or an id");
        // normalized: one leading '/', no empty parts
        fuzz::check(c->container_path.size() <= copy.size() + 1 && c->container_path.starts_with('/'),
                    "container path longer than the path");
    }
    return 0;
}
