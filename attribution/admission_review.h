#pragma once
// An AdmissionReview body (admission.k8s.io/v1 or v1beta1) as the exec request it describes.
// The body comes from the network: bounded depth, every field type-checked, never throws.

#include "attribution/exec_request.h"

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace execaudit::attribution {

/// The request an AdmissionReview describes, or why it is not one.
struct AdmissionReviewParse {
    std::string uid;
    std::string api_version;
    std::optional<ExecRequest> request;  ///< nullopt: a review for something else (allowed, ignored)
};
std::expected<AdmissionReviewParse, std::string> parse_admission_review(std::string_view body, int64_t now_ns);

}  // namespace execaudit::attribution
