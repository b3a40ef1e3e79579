#include "tests/support/postgres.h"

#include "tests/support/process.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

namespace execaudit::testing {
namespace {

constexpr const char* kBin = "/usr/lib/postgresql/15/bin";

uint16_t free_port() {
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

void must(const RunResult& r, const std::string& what) {
    if (r.exit_code != 0) throw std::runtime_error(fmt::format("{} failed ({}): {}{}", what, r.exit_code, r.out, r.err));
}

}  // namespace

std::string missing_postgres() {
    if (auto p = missing_privileges(); !p.empty()) return p;
    if (!std::filesystem::exists(fmt::format("{}/initdb", kBin)))
        return fmt::format("PostgreSQL 15 is not installed ({}/initdb missing; scripts/setup installs it)", kBin);
    if (auto p = missing_program("runuser"); !p.empty()) return p;
    return {};
}

// initdb once per build tree (seconds; the tests' processes share it under a lock); each server
// starts from a private copy of it (milliseconds).
static std::string template_cluster() {
    std::filesystem::path build = std::filesystem::path(execaudit_bin()).parent_path().parent_path();
    std::string dir = (build / "tests" / "pg-template").string();
    std::string data = dir + "/pg";
    std::filesystem::create_directories(dir);
    int lock = open((dir + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX) != 0) throw std::runtime_error("cannot lock the PostgreSQL template");
    if (!std::filesystem::exists(data + "/PG_VERSION")) {
        std::filesystem::remove_all(data);
        std::filesystem::create_directories(data);
        // initdb and postgres refuse to run as root
        must(run({"chown", "nobody", dir, data}), "chown");
        must(run({"runuser", "-u", "nobody", "--", fmt::format("{}/initdb", kBin), "-D", data, "-U", "execaudit",
                  "--auth=trust", "--no-sync", "-E", "UTF8"},
                 120s),
             "initdb");
    }
    close(lock);  // releases the lock
    return data;
}

PostgresServer::PostgresServer(Options options) : data_(dir_.file("pg")), log_(dir_.file("pg.log")), options_(options) {
    must(run({"cp", "-a", template_cluster(), data_}), "cp");
    must(run({"chown", "nobody", dir_.path()}), "chown");
    port_ = free_port();
    start();
}

PostgresServer::~PostgresServer() {
    if (running_)
        run({"runuser", "-u", "nobody", "--", fmt::format("{}/pg_ctl", kBin), "-D", data_, "-m", "immediate", "-w", "stop"}, 30s);
}

std::string PostgresServer::uri() const { return fmt::format("postgresql://execaudit@127.0.0.1:{}/postgres", port_); }

void PostgresServer::start() {
    must(run({"runuser", "-u", "nobody", "--", fmt::format("{}/pg_ctl", kBin), "-D", data_, "-l", log_, "-w", "-o",
              fmt::format("-k {} -c listen_addresses=127.0.0.1 -p {} -c fsync={}", dir_.path(), port_,
                          options_.fsync ? "on" : "off"), "start"},
             60s),
         "pg_ctl start");
    running_ = true;
}

void PostgresServer::stop() {
    must(run({"runuser", "-u", "nobody", "--", fmt::format("{}/pg_ctl", kBin), "-D", data_, "-m", "fast", "-w", "stop"}, 60s),
         "pg_ctl stop");
    running_ = false;
}

std::string PostgresServer::query(const std::string& sql) const {
    auto r = run({"runuser", "-u", "nobody", "--", fmt::format("{}/psql", kBin), "-X", "-q", "-At", "-h", "127.0.0.1",
                  "-p", std::to_string(port_), "-U", "execaudit", "-d", "postgres", "-c", sql});
    must(r, "psql " + sql);
    return r.out;
}

}  // namespace execaudit::testing
