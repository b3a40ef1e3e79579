// libFuzzer target: the kubelet's log names (/var/log/pods/NS_POD_UID and
// /var/log/containers/POD_NS_CONTAINER-ID.log), which name a container when the API server is
// not asked. Pod and container names are chosen by whoever creates the pod.
#include "recorder/pods/kubelet_logs.h"
#include "tests/fuzz/fuzz_check.h"

using namespace execaudit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string copy(fuzz::as_text(data, size));
    if (auto dir = recorder::parse_pod_log_dir(copy))
        fuzz::check(recorder::is_dns_label(dir->namespace_name) && recorder::is_dns_subdomain(dir->pod),
                    "a pod log dir with names Kubernetes would refuse");
    if (auto name = recorder::parse_container_log_name(copy))
        fuzz::check(recorder::is_dns_label(name->namespace_name) && recorder::is_dns_subdomain(name->pod),
                    "a container log name with names Kubernetes would refuse");
    return 0;
}
