// libFuzzer target: a requestURI (`/api/v1/namespaces/NS/pods/POD/exec?command=…`), decoded as
// kube-apiserver decodes it. The query is the client's choice, byte for byte.
#include "attribution/audit_event.h"
#include "tests/fuzz/fuzz_check.h"

using namespace execaudit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string copy(fuzz::as_text(data, size));
    if (auto uri = attribution::decode_request_uri(copy)) {
        fuzz::check(uri->command.size() <= attribution::kMaxCommandArgs, "more arguments kept than the bound");
        fuzz::check(!uri->command_truncated || uri->command.size() == attribution::kMaxCommandArgs,
                    "truncated below the bound");
    }
    if (auto plain = attribution::percent_decode(copy)) fuzz::check(plain->size() <= copy.size(), "decoding grew the text");
    (void)attribution::kube_query_bool(copy);
    return 0;
}
