#pragma once
// A private rsyslogd (Debian's package) on 127.0.0.1, a real syslog peer for the export tests:
// an imtcp listener (plain, or TLS through the ossl driver with a CA and certificates made by
// openssl in its own directory) on a port chosen free at run time, writing every message it
// parses as RFC 5424 to a file. It can be killed and restarted on the same port.

#include "tests/support/environment.h"
#include "tests/support/process.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace execaudit::testing {

/// One message as rsyslog parsed it.
struct SyslogReceived {
    std::string version, hostname, app_name, msgid, structured_data;
    nlohmann::json record;  ///< MSG parsed as JSON (null when it is not JSON)
    std::string record_id;  ///< record["record_id"], or the ECS event.id
};

class Rsyslog {
public:
    struct Options {
        bool tls = false;
        bool require_client_cert = true;  ///< tls: the x509/certvalid auth mode
    };
    /// Starts it (throws with rsyslog's own log when it does not come up).
    explicit Rsyslog(Options options);
    ~Rsyslog();
    Rsyslog(const Rsyslog&) = delete;
    Rsyslog& operator=(const Rsyslog&) = delete;

    /// Starts again on the same port (after kill()).
    void start();
    /// Sends `signo` and waits until it is gone.
    void kill(int signo);
    bool running();

    uint16_t port() const { return port_; }
    std::string url() const;
    /// tls: the CA that signed the server's and the client's certificates, and the client's.
    std::string ca_file() const { return dir_.file("ca.pem"); }
    std::string client_cert() const { return dir_.file("client.pem"); }
    std::string client_key() const { return dir_.file("client.key"); }
    /// A CA that signed nothing here (for verification failures).
    std::string other_ca_file() const { return dir_.file("other-ca.pem"); }

    /// Every message written to the output file so far, in order.
    std::vector<SyslogReceived> received() const;
    std::string log() const;

private:
    void write_config();

    Options options_;
    TempDir dir_;
    uint16_t port_ = 0;
    int runs_ = 0;
    std::unique_ptr<Process> process_;
};

/// A TCP port on 127.0.0.1 that nothing listens on right now.
uint16_t free_port();

/// Record ids of the output of `execaudit export --format jsonl` (or a JSON lines file).
std::vector<std::string> jsonl_record_ids(const std::string& jsonl);

}  // namespace execaudit::testing
