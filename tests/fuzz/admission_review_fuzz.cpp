// libFuzzer target: an AdmissionReview body as the admission webhook receives it.
#include "attribution/admission_review.h"
#include "tests/fuzz/fuzz_check.h"

using namespace execaudit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string copy(fuzz::as_text(data, size));
    auto review = attribution::parse_admission_review(copy, 1'700'000'000'000'000'000);
    if (review && review->request) {
        fuzz::check(!review->uid.empty(), "a request from a review without a uid");
        (void)attribution::request_key(*review->request);
    }
    return 0;
}
