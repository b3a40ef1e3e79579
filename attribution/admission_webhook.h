#pragma once
// For managed clusters without audit flags (EKS, GKE, AKS): a ValidatingWebhookConfiguration on
// pods/exec and pods/attach (operation CONNECT) sends an AdmissionReview with the user and the
// PodExecOptions. The webhook only observes: it always allows, at once.

#include "attribution/attribution.h"
#include "net/http_server.h"

#include <expected>
#include <string>

namespace execaudit::attribution {

net::HttpHandler make_admission_webhook(Attribution& attribution);

/// The request an AdmissionReview describes, or why it is not one (exposed for tests).
struct AdmissionReviewParse {
    std::string uid;
    std::string api_version;
    std::optional<ExecRequest> request;  ///< nullopt: a review for something else (allowed, ignored)
};
std::expected<AdmissionReviewParse, std::string> parse_admission_review(std::string_view body, int64_t now_ns);

}  // namespace execaudit::attribution
