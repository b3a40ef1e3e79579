#pragma once
// What a session record says of its pod (docs/pods.md, "Which workload"): the labels, the
// controller owner, the workload and the service account of the pod spec that held when the
// session started. Labels are chosen by whoever creates the pod: their total size on one record
// is bounded here, so no label set can swell every record of every session into that pod (the
// export line, the syslog message, the upload).

#include "recorder/pods/pod_spec.h"
#include "storage/records.h"

#include <cstddef>

namespace execaudit::recorder {

struct LabelBound {
    size_t max_bytes = 4096;  ///< keys and values together, on one record
};

/// The record's view of `pod`. Labels beyond the bound are cut, the largest first (the short
/// ones a SIEM queries, `app` and `tier`, survive a few huge ones), and counted in labels_dropped,
/// as are labels whose key the API server would refuse (empty, or with a '=').
storage::PodMetadata pod_metadata(const PodInfo& pod, const LabelBound& bound = {});

}  // namespace execaudit::recorder
