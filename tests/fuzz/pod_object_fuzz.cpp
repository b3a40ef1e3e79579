// libFuzzer target: Pod objects from the API server (recorder/pods): a PodList page, then a watch
// stream cut into arbitrary pieces. The API server is trusted; the pods' contents (labels,
// probes' argv, names) are chosen by whoever may create pods, so every bound is tested.
#include "recorder/pods/pod_spec.h"
#include "recorder/pods/pod_watch.h"
#include "tests/fuzz/fuzz_check.h"

using namespace execaudit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = fuzz::split_ff(fuzz::as_text(data, size));
    recorder::PodLimits limits{.max_labels = 8, .max_string = 256, .max_argv = 16, .max_containers = 4};
    std::string error;
    if (auto pod = recorder::parse_pod(std::string(parts[0]), error, limits)) {
        fuzz::check(pod->labels.size() <= limits.max_labels, "more labels than the bound");
        fuzz::check(pod->containers.size() <= limits.max_containers, "more containers than the bound");
        for (const auto& c : pod->containers)
            for (const auto& e : c.execs) fuzz::check(e.argv.size() <= limits.max_argv, "more argv than the bound");
    }
    recorder::PodWatchState watch(4096, limits);
    (void)watch.apply_list_page(std::string(parts[0]), true);
    for (size_t i = 1; i < parts.size(); ++i) watch.feed(std::string(parts[i]), [](recorder::PodWatchState::Line) {});
    return 0;
}
