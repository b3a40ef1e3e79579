#pragma once
// Audit events and admission reviews in the API server's real format, for a session a test is
// about to run; and a throwaway PKI (CA, server and client certificates) made with openssl.

#include "tests/support/environment.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace execaudit::testing {

struct ExecCall {
    std::string audit_id;
    std::string user = "alice";
    std::vector<std::string> groups = {"devs", "system:authenticated"};
    std::string ns, pod, container;
    std::vector<std::string> command;
    bool tty = true;
    int64_t received_ns = 0;
    std::string source_ip = "10.1.2.3";
};

/// One stage of an exec's audit event, as the API server writes it ("create" over SPDY).
/// `code` 0: no responseStatus (RequestReceived).
nlohmann::json audit_stage(const ExecCall& call, const std::string& stage, int64_t stage_ns, int code);
/// What the webhook backend POSTs.
std::string event_list(const std::vector<nlohmann::json>& items);
/// A ValidatingWebhook AdmissionReview for pods/exec CONNECT.
std::string admission_review(const std::string& uid, const ExecCall& call);

int64_t now_ns();

/// CA, a server certificate for 127.0.0.1, a client certificate signed by the CA (CN
/// kube-apiserver), another one of the same CA with another name (CN system:node:worker-1,
/// as a cluster CA signs for every kubelet), and a client certificate signed by another CA, in `dir`.
struct TestPki {
    explicit TestPki(const std::string& dir);
    std::string ca, server_cert, server_key, client_cert, client_key, node_cert, node_key, rogue_cert, rogue_key;
};

/// curl POST of `body` to `url` with optional TLS files; returns (exit code, HTTP status, body).
struct CurlResult {
    int exit_code = -1;
    int status = 0;
    std::string body;
};
CurlResult curl_post(const std::string& url, const std::string& body, const std::string& body_dir,
                     const std::vector<std::string>& tls_args = {});

/// The port a recorder's server logged ("<name> listening on 127.0.0.1:PORT").
int logged_port(const std::string& log, const std::string& name);

}  // namespace execaudit::testing
