#pragma once
// For managed clusters without audit flags (EKS, GKE, AKS): a ValidatingWebhookConfiguration on
// pods/exec and pods/attach (operation CONNECT) sends an AdmissionReview with the user and the
// PodExecOptions. The webhook only observes: it always allows, at once.

#include "attribution/admission_review.h"
#include "attribution/attribution.h"
#include "net/http_server.h"

namespace execaudit::attribution {

net::HttpHandler make_admission_webhook(Attribution& attribution);

}  // namespace execaudit::attribution
