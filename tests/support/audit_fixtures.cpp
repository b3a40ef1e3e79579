#include "tests/support/audit_fixtures.h"

#include "tests/support/process.h"

#include <ctime>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace execaudit::testing {
namespace {

std::string rfc3339(int64_t ns) {
    time_t secs = ns / 1'000'000'000;
    tm t{};
    gmtime_r(&secs, &t);
    char buf[64];
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
             t.tm_min, t.tm_sec, static_cast<long long>((ns % 1'000'000'000) / 1000));
    return buf;
}

std::string query_escape(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
        else if (c == ' ') out += '+';
        else {
            char hex[4];
            snprintf(hex, sizeof(hex), "%%%02X", c);
            out += hex;
        }
    }
    return out;
}

void openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv, 60s);
    if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
}

}  // namespace

int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

nlohmann::json audit_stage(const ExecCall& c, const std::string& stage, int64_t stage_ns, int code) {
    std::string uri = "/api/v1/namespaces/" + c.ns + "/pods/" + c.pod + "/exec?";
    for (const auto& arg : c.command) uri += "command=" + query_escape(arg) + "&";
    if (!c.container.empty()) uri += "container=" + query_escape(c.container) + "&";
    uri += "stdin=true&stdout=true";
    if (c.tty) uri += "&tty=true";
    nlohmann::json e = {
        {"kind", "Event"},
        {"apiVersion", "audit.k8s.io/v1"},
        {"level", "Metadata"},
        {"auditID", c.audit_id},
        {"stage", stage},
        {"requestURI", uri},
        {"verb", "create"},
        {"user", {{"username", c.user}, {"uid", "uid-" + c.user}, {"groups", c.groups}}},
        {"sourceIPs", {c.source_ip}},
        {"userAgent", "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625"},
        {"objectRef", {{"resource", "pods"}, {"namespace", c.ns}, {"name", c.pod}, {"apiVersion", "v1"}, {"subresource", "exec"}}},
        {"requestReceivedTimestamp", rfc3339(c.received_ns)},
        {"stageTimestamp", rfc3339(stage_ns)},
    };
    if (code) {
        e["responseStatus"] = {{"metadata", nlohmann::json::object()}, {"code", code}};
        e["annotations"] = {{"authorization.k8s.io/decision", code == 403 ? "forbid" : "allow"},
                            {"authorization.k8s.io/reason", code == 403 ? "" : "RBAC: allowed by RoleBinding \"ops/shop\""}};
    }
    return e;
}

std::string event_list(const std::vector<nlohmann::json>& items) {
    return nlohmann::json{{"kind", "EventList"}, {"apiVersion", "audit.k8s.io/v1"}, {"metadata", nlohmann::json::object()},
                          {"items", items}}
        .dump();
}

std::string admission_review(const std::string& uid, const ExecCall& c) {
    nlohmann::json review = {
        {"apiVersion", "admission.k8s.io/v1"},
        {"kind", "AdmissionReview"},
        {"request",
         {{"uid", uid},
          {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "PodExecOptions"}}},
          {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
          {"subResource", "exec"},
          {"name", c.pod},
          {"namespace", c.ns},
          {"operation", "CONNECT"},
          {"userInfo", {{"username", c.user}, {"uid", "uid-" + c.user}, {"groups", c.groups}}},
          {"object",
           {{"kind", "PodExecOptions"}, {"apiVersion", "v1"}, {"stdin", true}, {"stdout", true}, {"tty", c.tty},
            {"container", c.container}, {"command", c.command}}},
          {"oldObject", nullptr},
          {"dryRun", false}}},
    };
    return review.dump();
}

TestPki::TestPki(const std::string& dir) {
    ca = dir + "/ca.pem";
    std::string ca_key = dir + "/ca.key";
    server_cert = dir + "/server.pem";
    server_key = dir + "/server.key";
    client_cert = dir + "/client.pem";
    client_key = dir + "/client.key";
    node_cert = dir + "/node.pem";
    node_key = dir + "/node.key";
    rogue_cert = dir + "/rogue.pem";
    rogue_key = dir + "/rogue.key";
    std::string rogue_ca = dir + "/rogue-ca.pem", rogue_ca_key = dir + "/rogue-ca.key";
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=execaudit test CA", "-keyout",
             ca_key, "-out", ca});
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=rogue CA", "-keyout", rogue_ca_key,
             "-out", rogue_ca});
    std::ofstream(dir + "/san.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    std::ofstream(dir + "/client.ext") << "extendedKeyUsage=clientAuth\n";
    auto issue = [&](const std::string& cn, const std::string& cert, const std::string& key, const std::string& by,
                     const std::string& by_key, bool server) {
        std::string csr = cert + ".csr";
        openssl({"req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn, "-keyout", key, "-out", csr});
        std::vector<std::string> sign = {"x509", "-req", "-in", csr, "-CA", by, "-CAkey", by_key, "-CAcreateserial",
                                         "-days", "2", "-out", cert};
        sign.push_back("-extfile");
        sign.push_back(dir + (server ? "/san.ext" : "/client.ext"));
        openssl(sign);
    };
    issue("127.0.0.1", server_cert, server_key, ca, ca_key, true);
    issue("kube-apiserver", client_cert, client_key, ca, ca_key, false);
    issue("system:node:worker-1", node_cert, node_key, ca, ca_key, false);
    issue("intruder", rogue_cert, rogue_key, rogue_ca, rogue_ca_key, false);
}

CurlResult curl_post(const std::string& url, const std::string& body, const std::string& body_dir,
                     const std::vector<std::string>& tls_args) {
    static int n = 0;
    std::string file = body_dir + "/body-" + std::to_string(++n) + ".json";
    std::ofstream(file, std::ios::binary) << body;
    std::vector<std::string> argv = {"curl", "-s", "-S", "-X", "POST", "-H", "Content-Type: application/json",
                                     "--data-binary", "@" + file, "-w", "\n%{http_code}", "--max-time", "30"};
    argv.insert(argv.end(), tls_args.begin(), tls_args.end());
    argv.push_back(url);
    auto r = run(argv, 60s);
    CurlResult out;
    out.exit_code = r.exit_code;
    size_t nl = r.out.rfind('\n');
    if (nl != std::string::npos) {
        out.body = r.out.substr(0, nl);
        out.status = std::atoi(r.out.c_str() + nl + 1);
    }
    return out;
}

int logged_port(const std::string& log, const std::string& name) {
    std::smatch m;
    std::regex re(name + " listening on [^ ]*:([0-9]+)");
    if (!std::regex_search(log, m, re)) return 0;
    return std::stoi(m[1]);
}

}  // namespace execaudit::testing
