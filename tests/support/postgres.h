#pragma once
// A private PostgreSQL server per test (testing.md, "PostgreSQL (cluster mode)"): initdb as
// nobody into a temporary directory, a free loopback port, trust auth. Stopped and removed on
// destruction, also when the test fails; stop()/start() in between prove outage handling.

#include "tests/support/environment.h"

#include <cstdint>
#include <string>

namespace execaudit::testing {

/// Empty when a private server can run here; otherwise why not (for EA_REQUIRE).
std::string missing_postgres();

class PostgresServer {
public:
    struct Options {
        /// Tests run without fsync (seconds matter, a crash of the machine does not); the
        /// benchmarks keep it, as a production server does.
        bool fsync = false;
    };
    PostgresServer() : PostgresServer(Options{}) {}
    explicit PostgresServer(Options options);
    ~PostgresServer();
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    /// postgresql://execaudit@127.0.0.1:PORT/postgres
    std::string uri() const;
    uint16_t port() const { return port_; }
    /// Stops the server (fast shutdown: connections are cut) / starts it again on the same port.
    void stop();
    void start();
    /// Runs one statement with psql; its output (unaligned, tuples only).
    std::string query(const std::string& sql) const;
    const std::string& log_path() const { return log_; }

private:
    TempDir dir_;
    std::string data_, log_;
    uint16_t port_ = 0;
    bool running_ = false;
    Options options_;
};

}  // namespace execaudit::testing
