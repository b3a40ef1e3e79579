#include "tests/support/rsyslog.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace execaudit::testing {
namespace {

bool accepts_connections(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
}

void openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv);
    if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
}

// A CA, a server and a client certificate it signs (for 127.0.0.1), and a CA that signs nothing.
void make_certificates(const TempDir& dir) {
    auto ec = std::vector<std::string>{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"};
    for (std::string ca : {"ca", "other-ca"}) {
        std::vector<std::string> a = {"req", "-x509"};
        a.insert(a.end(), ec.begin(), ec.end());
        a.insert(a.end(), {"-keyout", dir.file(ca + ".key"), "-out", dir.file(ca + ".pem"), "-days", "2", "-subj",
                           "/CN=execaudit test " + ca});
        openssl(a);
    }
    // The server's certificate names 127.0.0.1 only: tls://localhost must then be refused.
    std::ofstream(dir.file("san.ext")) << "subjectAltName=IP:127.0.0.1\n";
    for (std::string n : {"server", "client"}) {
        std::vector<std::string> a = {"req"};
        a.insert(a.end(), ec.begin(), ec.end());
        a.insert(a.end(), {"-keyout", dir.file(n + ".key"), "-out", dir.file(n + ".csr"), "-subj", "/CN=" + n});
        openssl(a);
        openssl({"x509", "-req", "-in", dir.file(n + ".csr"), "-CA", dir.file("ca.pem"), "-CAkey", dir.file("ca.key"),
                 "-CAcreateserial", "-out", dir.file(n + ".pem"), "-days", "2", "-extfile", dir.file("san.ext")});
    }
}

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t tab = line.find('\t', start);
        out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos) return out;
        start = tab + 1;
    }
}

}  // namespace

uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
        throw std::runtime_error("no free port");
    ::close(fd);
    return ntohs(addr.sin_port);
}

Rsyslog::Rsyslog(Options options) : options_(options) {
    if (options_.tls) make_certificates(dir_);
    port_ = free_port();
    write_config();
    start();
}

Rsyslog::~Rsyslog() {
    if (process_ && process_->running()) kill(SIGTERM);
}

std::string Rsyslog::url() const { return fmt::format("{}://127.0.0.1:{}", options_.tls ? "tls" : "tcp", port_); }

void Rsyslog::write_config() {
    std::filesystem::create_directories(dir_.file("work"));
    std::ofstream conf(dir_.file("rsyslog.conf"));
    conf << fmt::format("global(workDirectory=\"{}\" maxMessageSize=\"256k\"", dir_.file("work"));
    if (options_.tls)
        conf << fmt::format(" defaultNetstreamDriverCAFile=\"{}\" defaultNetstreamDriverCertFile=\"{}\" "
                            "defaultNetstreamDriverKeyFile=\"{}\"",
                            dir_.file("ca.pem"), dir_.file("server.pem"), dir_.file("server.key"));
    conf << ")\n";
    if (options_.tls)
        conf << fmt::format("module(load=\"imtcp\" streamDriver.name=\"ossl\" streamDriver.mode=\"1\" "
                            "streamDriver.authMode=\"{}\")\n",
                            options_.require_client_cert ? "x509/certvalid" : "anon");
    else
        conf << "module(load=\"imtcp\")\n";
    conf << fmt::format("input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{}\" ruleset=\"out\")\n", port_);
    // What rsyslog parsed out of each RFC 5424 message, one line each (JSON in MSG has no tabs).
    conf << "template(name=\"fields\" type=\"string\" string=\"%protocol-version%\\t%hostname%\\t%app-name%\\t"
            "%msgid%\\t%structured-data%\\t%msg%\\n\")\n";
    conf << fmt::format("ruleset(name=\"out\") {{ action(type=\"omfile\" file=\"{}\" template=\"fields\") }}\n",
                        dir_.file("received.log"));
}

void Rsyslog::start() {
    std::string log_path = dir_.file("rsyslogd-" + std::to_string(++runs_) + ".log");
    process_ = std::make_unique<Process>(std::vector<std::string>{"rsyslogd", "-n", "-f", dir_.file("rsyslog.conf"), "-i",
                                                                  dir_.file("rsyslogd.pid")},
                                         log_path);
    if (!eventually([&] { return accepts_connections(port_) || !process_->running(); }, 20s) || !process_->running())
        throw std::runtime_error("rsyslogd did not start:\n" + log());
}

void Rsyslog::kill(int signo) {
    process_->signal(signo);
    process_->wait(20s);
}

bool Rsyslog::running() { return process_ && process_->running(); }

std::string Rsyslog::log() const {
    std::string out;
    for (int i = 1; i <= runs_; ++i) out += read_file(dir_.file("rsyslogd-" + std::to_string(i) + ".log"));
    return out;
}

std::vector<SyslogReceived> Rsyslog::received() const {
    std::vector<SyslogReceived> out;
    std::istringstream in(read_file(dir_.file("received.log")));
    for (std::string line; std::getline(in, line);) {
        auto f = split_tabs(line);
        if (f.size() != 6) throw std::runtime_error("unexpected line from rsyslog: " + line);
        SyslogReceived r{f[0], f[1], f[2], f[3], f[4], nlohmann::json::parse(f[5], nullptr, false), ""};
        if (r.record.is_object()) {
            if (r.record.contains("record_id")) r.record_id = r.record["record_id"];
            else if (r.record.contains("event")) r.record_id = r.record["event"]["id"];
        }
        out.push_back(std::move(r));
    }
    return out;
}

std::vector<std::string> jsonl_record_ids(const std::string& jsonl) {
    std::vector<std::string> out;
    std::istringstream in(jsonl);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line)["record_id"]);
    return out;
}

}  // namespace execaudit::testing
