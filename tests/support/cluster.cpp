#include "tests/support/cluster.h"

#include "tests/support/audit_fixtures.h"
#include "tests/support/environment.h"

#include <fmt/format.h>

#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace execaudit::testing {
namespace {

void openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv, 60s);
    if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
}

void make_ca(const std::string& cn, const std::string& cert, const std::string& key) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
             "/CN=" + cn, "-keyout", key, "-out", cert});
}

void sign(const std::string& subject, const std::string& cert, const std::string& by, const std::string& by_key,
          const std::string& ext) {
    std::string key = ClusterPki::key_of(cert), csr = cert + ".csr";
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", subject, "-keyout", key,
             "-out", csr});
    openssl({"x509", "-req", "-in", csr, "-CA", by, "-CAkey", by_key, "-CAcreateserial", "-days", "2", "-out", cert,
             "-extfile", ext});
}

}  // namespace

ClusterPki::ClusterPki(std::string d) : dir(std::move(d)) {
    ca = dir + "/ca.pem";
    ca_key = dir + "/ca.key";
    node_ca = dir + "/node-ca.pem";
    node_ca_key = dir + "/node-ca.key";
    server_cert = dir + "/server.pem";
    server_key = key_of(server_cert);
    apiserver_cert = dir + "/apiserver.pem";
    apiserver_key = key_of(apiserver_cert);
    make_ca("execaudit test CA", ca, ca_key);
    make_ca("execaudit test node CA", node_ca, node_ca_key);
    std::ofstream(dir + "/server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
    std::ofstream(dir + "/client.ext") << "extendedKeyUsage=clientAuth\n";
    sign("/CN=127.0.0.1", server_cert, ca, ca_key, dir + "/server.ext");
    sign("/CN=kube-apiserver", apiserver_cert, ca, ca_key, dir + "/client.ext");
}

std::string ClusterPki::issue_node(const std::string& subject, const std::string& file_name) {
    std::string cert = dir + "/" + file_name + ".pem";
    sign(subject, cert, node_ca, node_ca_key, dir + "/client.ext");
    return cert;
}

uint16_t free_loopback_port() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) || getsockname(s, reinterpret_cast<sockaddr*>(&a), &len)) {
        close(s);
        throw std::runtime_error("no free port");
    }
    close(s);
    return ntohs(a.sin_port);
}

std::vector<std::string> curl_tls(const ClusterPki& pki, const std::string& cert) {
    return {"--cacert", pki.ca, "--cert", cert, "--key", ClusterPki::key_of(cert)};
}

Collector::Collector(const std::string& db_uri, const ClusterPki& pki, const std::string& log_path,
                     std::vector<std::string> extra_args, uint16_t port)
    : log_path_(log_path) {
    std::vector<std::string> argv = {execaudit_bin(), "collect", "--db", db_uri, "--listen",
                                     "127.0.0.1:" + std::to_string(port), "--tls-cert",
                                     pki.server_cert, "--tls-key", pki.server_key, "--node-ca", pki.node_ca,
                                     "--metrics", "127.0.0.1:0"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    process_ = std::make_unique<Process>(argv, log_path_);
    bool ready = eventually([&] { return log().find("execaudit collect: ready") != std::string::npos || !process_->running(); }, 60s);
    if (!ready || !process_->running()) throw std::runtime_error("the collector did not start:\n" + log());
    upload_port_ = static_cast<uint16_t>(logged_port(log(), "node uploads"));
    metrics_port_ = static_cast<uint16_t>(logged_port(log(), "metrics"));
}

Collector::~Collector() {
    if (process_ && process_->running()) kill();
}

int Collector::stop() {
    process_->signal(SIGTERM);
    return process_->wait(30s).value_or(-1);
}

void Collector::kill() {
    process_->signal(SIGKILL);
    process_->wait(30s);
}

std::string Collector::log() const { return read_file(log_path_); }

double Collector::metric(const std::string& name) const {
    auto r = run({"curl", "-s", "--max-time", "10", fmt::format("http://127.0.0.1:{}/metrics", metrics_port_)});
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("execaudit_" + name + " ", 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
    return -1;
}

}  // namespace execaudit::testing
