// Cluster mode on the real path, all on this machine: a node's recorder (`record --collector`)
// before a private containerd, uploading over mutual TLS to a real `execaudit collect` on a real
// PostgreSQL 15 (fsync on, as in production). Every figure ends when PostgreSQL has committed
// what the node recorded: the bench polls the cluster store over its own connection.
#include "bench/figures.h"
#include "bench/workload.h"
#include "storage/postgres/pg_connection.h"
#include "tests/support/cluster.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/testbed.h"

#include <fmt/format.h>

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <thread>

namespace execaudit::bench {
using namespace execaudit::testing;
namespace pg = execaudit::storage::pg;

namespace {

constexpr int kRingMb = 16;  // the recorder's default ring, as in the node figures
constexpr const char* kNode = "test-node";  // the testbed's recorder runs as --node-name test-node

/// A session as the cluster store holds it.
struct StoredSession {
    std::string status;
    int64_t start_ns = 0;
    int64_t output_bytes = 0;  ///< the session's own count
    int64_t chunk_bytes = 0;   ///< what its committed chunks hold
    int64_t lost_bytes = 0;
    int64_t lost_events = 0;
    /// Everything the node recorded of it is committed: it ended, and its chunks hold every byte.
    bool complete() const { return status != "open" && chunk_bytes == output_bytes; }
};

/// One exec that prints a lot, first byte to the last one committed in PostgreSQL.
struct Drained {
    StoredSession session;
    double printing_s = 0;  ///< first byte to the exec's exit
    double drained_s = 0;   ///< first byte to everything committed
};

int64_t wall_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// What PostgreSQL's processes (the postmaster and its children: the collector's backends, the
/// WAL writer, the checkpointer) have used so far, less the bench's own polling backend.
double postgres_cpu_seconds(pid_t postmaster, pid_t except) {
    double total = cpu_seconds(postmaster).value_or(0);
    DIR* proc = opendir("/proc");
    if (!proc) return total;
    while (dirent* e = readdir(proc)) {
        pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        if (pid <= 0 || pid == except) continue;
        std::ifstream stat(fmt::format("/proc/{}/stat", pid));
        std::string text((std::istreambuf_iterator<char>(stat)), {});
        size_t close = text.rfind(')');
        if (close == std::string::npos) continue;
        char state = 0;
        int ppid = 0;
        if (std::sscanf(text.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == postmaster)
            total += cpu_seconds(pid).value_or(0);
    }
    closedir(proc);
    return total;
}

/// Bytes `head -c N /dev/urandom | base64` prints: 4 per 3 (padded), and a newline every 76.
int64_t base64_output_bytes(int64_t n) {
    int64_t encoded = 4 * ((n + 2) / 3);
    return encoded + (encoded + 75) / 76;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()))) - 1;
    return v[std::min(i, v.size() - 1)];
}

class ClusterBench {
public:
    explicit ClusterBench(const Scale& scale)
        : scale_(scale), pg_server_(PostgresServer::Options{.fsync = true}), pki_(dir_.path()) {
        node_cert_ = pki_.issue_node(fmt::format("/CN={}", kNode), kNode);
        start_collector();
        bed_ = std::make_unique<Testbed>();
        container_ = bed_->run_container("bench", "web-0", "app");
        write_text_file(bed_->rootfs() + "/tmp/cluster.txt", scale_.pty_mb << 20);
        recorder_ = std::make_unique<Recorder>(
            *bed_, dir_.file("node.db"),
            std::vector<std::string>{"--ring-buffer-mb", std::to_string(kRingMb), "--collector", collector_->url(),
                                     "--collector-ca", pki_.ca, "--collector-cert", node_cert_, "--collector-key",
                                     ClusterPki::key_of(node_cert_)});
        db_ = std::make_unique<pg::Connection>(pg::Connection::open(pg_server_.uri()));
        postmaster_ = postmaster_pid();
    }
    ~ClusterBench() {
        db_.reset();
        recorder_.reset();  // before the containers go
        bed_.reset();
    }

    // MB/s and records/s of a session printing a log-like file, first byte to all committed in
    // PostgreSQL (for sizing: whether the upload keeps up is the flood's drain ratio); the
    // collector's (and PostgreSQL's) CPU over the same runs, per GB.
    void throughput(Report& report) {
        std::vector<double> mb_s, records_s;
        double collector_cpu = 0, postgres_cpu = 0, gb = 0;
        for (int i = 0; i < scale_.runs; ++i) {
            double records_before = collector_->metric("collector_upload_records_total");
            double collector_before = cpu_seconds(collector_->pid()).value_or(0);
            double postgres_before = postgres_cpu_seconds(postmaster_, backend_);
            Drained d = print_and_drain(fmt::format("tput-{:05}", i), "/bin/cat /tmp/cluster.txt");
            collector_cpu += cpu_seconds(collector_->pid()).value_or(0) - collector_before;
            postgres_cpu += postgres_cpu_seconds(postmaster_, backend_) - postgres_before;
            double records = collector_->metric("collector_upload_records_total") - records_before;
            gb += static_cast<double>(d.session.output_bytes) / 1e9;
            mb_s.push_back(static_cast<double>(d.session.output_bytes) / 1e6 / d.drained_s);
            records_s.push_back(records / d.drained_s);
        }
        std::string how = fmt::format("{} MB of log-like text through a container exec -t, first byte to all committed in "
                                      "PostgreSQL (fsync on), median of {} runs",
                                      scale_.pty_mb, scale_.runs);
        report.add({"cluster_upload_mb_s", median(mb_s), "MB/s", std::nullopt, how});
        report.add({"cluster_upload_records_s", median(records_s), "records/s", std::nullopt,
                    "collector_upload_records_total over the same runs (chunks of up to 512 KiB, commands, session updates)"});
        report.add({"collector_cpu_s_per_gb", collector_cpu / gb, "s/GB", Target{Target::Op::at_most, 4.0},
                    "the collect process's user+system CPU (/proc/PID/stat) over the throughput runs, per GB of terminal data"});
        report.add({"cluster_postgres_cpu_s_per_gb", postgres_cpu / gb, "s/GB", std::nullopt,
                    "PostgreSQL's processes (postmaster and children, less the bench's poller) over the same runs"});
    }

    // A new exec session each time: from its start on the node to its row in PostgreSQL.
    void latency(Report& report) {
        std::vector<double> seconds;
        for (int i = 0; i < scale_.latency_execs; ++i) {
            std::string marker = fmt::format("lat-{:05}", i);  // fixed width: no marker is a prefix of another
            PtyProcess p(bed_->exec_tty(container_, marker, {"/bin/echo", marker}), 24, 80);
            std::optional<StoredSession> seen;
            auto deadline = std::chrono::steady_clock::now() + 60s;
            while (!(seen = stored(marker)) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
            int64_t visible_ns = wall_ns();
            if (!seen) throw std::runtime_error(diagnose("exec " + marker + " did not reach PostgreSQL in 60 s"));
            seconds.push_back(static_cast<double>(visible_ns - seen->start_ns) / 1e9);
            if (p.wait(60s) != 0) throw std::runtime_error("ctr exec of /bin/echo failed: " + p.output());
        }
        std::string how = fmt::format("{} execs (ctr task exec -t /bin/echo), one at a time: the session's start on the node "
                                      "to its row visible in PostgreSQL (polled every 20 ms)",
                                      scale_.latency_execs);
        report.add({"cluster_visible_s_p50", percentile(seconds, 0.5), "s", std::nullopt, how});
        report.add({"cluster_visible_s_p99", percentile(seconds, 0.99), "s", Target{Target::Op::at_most, 2.0}, how});
    }

    // One node floods its tty with base64 of random bytes: nothing lost on the node or on the
    // way, and the backlog gone from the node into PostgreSQL within twice the flood's duration.
    void flood(Report& report) {
        int64_t random_bytes = static_cast<int64_t>(scale_.flood_mb << 20) * 3 / 4;
        int64_t expected = base64_output_bytes(random_bytes);
        Drained d = print_and_drain("flood-00000", fmt::format("head -c {} /dev/urandom | base64", random_bytes));
        std::string what = fmt::format("{:.0f} MB of base64 in one tty exec, ring buffer {} MiB", static_cast<double>(expected) / 1e6, kRingMb);
        report.add({"cluster_flood_lost_bytes", static_cast<double>(d.session.lost_bytes), "B", Target{Target::Op::equal, 0.0},
                    fmt::format("{}; lost_bytes in PostgreSQL ({} records lost)", what, d.session.lost_events)});
        report.add({"cluster_flood_missing_bytes", static_cast<double>(expected - d.session.chunk_bytes), "B",
                    Target{Target::Op::equal, 0.0}, "bytes base64 printed less the bytes of the session's chunks in PostgreSQL"});
        report.add({"cluster_flood_drain_ratio", d.drained_s / d.printing_s, "", Target{Target::Op::at_most, 2.0},
                    fmt::format("first byte to all committed in PostgreSQL ({:.1f} s) / first byte to the flood's end ({:.1f} s)",
                                d.drained_s, d.printing_s)});
    }

    // The upload path's own capacity: a flood recorded while the collector is down waits in the
    // node's spool; once a collector is back, its first chunk in PostgreSQL to its last.
    void backlog(Report& report) {
        collector_->stop();
        int64_t random_bytes = static_cast<int64_t>(scale_.flood_mb << 20) * 3 / 4;
        std::string marker = "backlog-00000";
        PtyProcess p(bed_->exec_tty(container_, marker,
                                    {"/bin/sh", "-c", fmt::format("head -c {} /dev/urandom | base64 # {}", random_bytes, marker)}),
                     50, 200);
        p.discard_output();
        if (p.wait(900s) != 0) throw std::runtime_error("the backlog's flood through ctr exec failed");
        // the node has stored all of it (the session ended in its SQLite): all of it is spooled
        if (!eventually([&] {
                auto all = list_sessions(dir_.file("node.db"));
                return std::all_of(all.begin(), all.end(), [](const auto& x) { return x["status"] == "ended"; });
            }, 120s))
            throw std::runtime_error(diagnose("the node did not store the backlog's session"));
        start_collector();
        std::optional<StoredSession> s;
        auto deadline = std::chrono::steady_clock::now() + 900s;
        while (!((s = stored(marker)) && s->chunk_bytes > 0) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(20ms);
        auto first = std::chrono::steady_clock::now();
        int64_t first_bytes = s ? s->chunk_bytes : 0;
        while (!((s = stored(marker)) && s->complete()) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(20ms);
        if (!s || !s->complete()) throw std::runtime_error(diagnose("the backlog was not all in PostgreSQL after 15 minutes"));
        double secs = seconds_since(first);
        report.add({"cluster_backlog_mb_s", static_cast<double>(s->output_bytes - first_bytes) / 1e6 / secs, "MB/s", std::nullopt,
                    fmt::format("{:.0f} MB of base64 spooled on the node while the collector was down, then uploaded: its first "
                                "chunk in PostgreSQL to its last ({:.1f} s)",
                                static_cast<double>(s->output_bytes) / 1e6, secs)});
    }

private:
    void start_collector() {
        collector_.reset();
        collector_ = std::make_unique<Collector>(pg_server_.uri(), pki_, dir_.file(fmt::format("collect-{}.log", ++collectors_)),
                                                 std::vector<std::string>{}, port_);
    }

    // Runs `script` in a new tty exec (its output discarded as it arrives), then waits until
    // PostgreSQL holds all of the session.
    Drained print_and_drain(const std::string& marker, const std::string& script) {
        PtyProcess p(bed_->exec_tty(container_, marker, {"/bin/sh", "-c", script + " # " + marker}), 50, 200);
        p.discard_output();
        if (p.wait(900s) != 0) throw std::runtime_error(fmt::format("{} through ctr exec failed", script));
        auto exited = std::chrono::steady_clock::now();
        auto first = p.first_output().value_or(exited);
        std::optional<StoredSession> s;
        auto deadline = exited + 900s;
        while (!((s = stored(marker)) && s->complete()) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(50ms);
        if (!s || !s->complete()) throw std::runtime_error(diagnose(marker + " was not all in PostgreSQL after 15 minutes"));
        return Drained{*s, std::chrono::duration<double>(exited - first).count(), seconds_since(first)};
    }

    std::optional<StoredSession> stored(const std::string& marker) {
        auto r = db_->exec(
            "SELECT s.status, s.start_ns, s.output_bytes, s.lost_bytes, s.lost_events, "
            "(SELECT coalesce(sum(c.output_bytes), 0) FROM io_chunks c WHERE c.session_id = s.id) "
            "FROM sessions s WHERE s.node = $1 AND position($2 in s.command_text) > 0",
            {pg::text(kNode), pg::text(marker)});
        if (r.rows() == 0) return std::nullopt;
        return StoredSession{r.text(0, 0), r.int64(0, 1), r.int64(0, 2), r.int64(0, 5), r.int64(0, 3), r.int64(0, 4)};
    }

    pid_t postmaster_pid() {
        auto r = db_->exec("SELECT pg_backend_pid()");
        backend_ = static_cast<pid_t>(r.int64(0, 0));
        std::ifstream stat(fmt::format("/proc/{}/stat", backend_));
        std::string text((std::istreambuf_iterator<char>(stat)), {});
        char state = 0;
        int ppid = 0;
        size_t close = text.rfind(')');
        if (close == std::string::npos || std::sscanf(text.c_str() + close + 1, " %c %d", &state, &ppid) != 2)
            throw std::runtime_error("cannot find PostgreSQL's postmaster");
        return ppid;
    }

    std::string diagnose(const std::string& what) {
        return fmt::format("{}\nrecorder:\n{}\ncollector:\n{}", what, recorder_->log(), collector_->log());
    }

    const Scale& scale_;
    TempDir dir_;
    PostgresServer pg_server_;
    ClusterPki pki_;
    std::string node_cert_;
    uint16_t port_ = free_loopback_port();  // fixed: the node finds a restarted collector again
    int collectors_ = 0;
    std::unique_ptr<Collector> collector_;
    std::unique_ptr<Testbed> bed_;
    std::string container_;
    std::unique_ptr<Recorder> recorder_;
    std::unique_ptr<pg::Connection> db_;
    pid_t postmaster_ = 0, backend_ = 0;
};

}  // namespace

std::string missing_for_cluster_figures() {
    if (auto m = missing_postgres(); !m.empty()) return m;
    for (const char* p : {"openssl", "curl"})
        if (auto m = missing_program(p); !m.empty()) return m;
    return {};
}

void cluster_figures(const Scale& scale, Report& report) {
    ClusterBench bench(scale);
    bench.latency(report);  // first, on an idle cluster store
    bench.throughput(report);
    bench.flood(report);
    bench.backlog(report);
}

}  // namespace execaudit::bench
