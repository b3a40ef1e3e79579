#include "recorder/pods/pod_metadata.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <vector>

namespace execaudit::recorder {

storage::PodMetadata pod_metadata(const PodInfo& pod, const LabelBound& bound) {
    storage::PodMetadata m;
    std::vector<const std::pair<const std::string, std::string>*> by_size;
    for (const auto& label : pod.labels) {
        // a key the API server would refuse: it could not be told from its value in "key=value" forms
        if (label.first.empty() || label.first.find('=') != std::string::npos) ++m.labels_dropped;
        else by_size.push_back(&label);
    }
    std::stable_sort(by_size.begin(), by_size.end(), [](const auto* a, const auto* b) {
        return a->first.size() + a->second.size() < b->first.size() + b->second.size();
    });
    nlohmann::json labels = nlohmann::json::object();
    size_t used = 0;
    for (const auto* label : by_size) {
        size_t size = label->first.size() + label->second.size();
        if (used + size > bound.max_bytes) {
            ++m.labels_dropped;
            continue;
        }
        used += size;
        labels[label->first] = label->second;
    }
    // the pod's JSON was valid UTF-8 (the parser checked it); replace, never throw, all the same
    m.labels_json = labels.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (pod.owner) {
        m.owner_kind = pod.owner->kind;
        m.owner_name = pod.owner->name;
    }
    if (pod.workload) {
        m.workload_kind = pod.workload->kind;
        m.workload_name = pod.workload->name;
    }
    m.service_account = pod.service_account;
    return m;
}

}  // namespace execaudit::recorder
