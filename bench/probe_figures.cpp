// What the kubelet's exec probes cost in storage (docs/kubelet-execs.md, "Folded runs"): a day of
// one pod's 10 s probe (8,640 runs) stored through the real writer the way the recorder stores a
// probe run (its start, `sh -c` and the command it runs, its line of output, its end with the
// kubelet judgement, the correlator's `kubelet` attribution), then folded by a real retention
// pass. Bytes per run: the database's live pages (page_count - freelist_count) less an empty
// database's, divided by the runs.
#include "bench/figures.h"
#include "storage/io_frames.h"
#include "storage/retention.h"
#include "storage/store_writer.h"
#include "tests/support/environment.h"

#include <fmt/format.h>

namespace execaudit::bench {
namespace {

constexpr int64_t kT0 = 1'764'547'200'000'000'000;  // 2025-12-01T00:00:00Z
constexpr int64_t kSec = 1'000'000'000;

void write_probe_runs(const std::string& db_path, int runs) {
    storage::StoreWriter w(storage::Database::open(db_path, storage::Database::Mode::read_write), {});
    const std::vector<std::string> probe = {"/bin/sh", "-c", "cat /tmp/healthy"};
    for (int i = 0; i < runs; ++i) {
        storage::SessionRecord s;
        s.id = fmt::format("{:032x}", 0x9b0be000000000ull + static_cast<uint64_t>(i));  // as long as a recorder's ids
        s.node = "node-1";
        s.namespace_name = "shop";
        s.pod = "web-7f9c6d5b8-x2k4q";
        s.pod_uid = "3f2a9c0d-5b1e-4e7a-9c0d-7f9c6d5b8e2a";
        s.container = "app";
        s.container_id = "3c1e0f5a9b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e";
        s.cgroup_id = 4242;
        s.cgroup_path = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f2a9c0d.slice/cri-containerd-3c1e0f5a.scope";
        s.leader_pid = static_cast<uint32_t>(100000 + i);
        s.boot_id = "8d2f1c0a-4b3e-4f6a-9d7c-1e2f3a4b5c6d";
        s.command = probe;
        s.start_ns = kT0 + i * 10 * kSec;
        s.start_boot_ns = static_cast<uint64_t>(i) * 10 * kSec;
        s.entered_via = "runc";
        s.kernel_session_id = static_cast<uint64_t>(i + 1);
        s.pod_meta = storage::PodMetadata{.labels_json = R"({"app":"web","pod-template-hash":"7f9c6d5b8"})",
                                          .owner_kind = "ReplicaSet", .owner_name = "web-7f9c6d5b8",
                                          .workload_kind = "Deployment", .workload_name = "web", .service_account = "web"};
        w.submit(storage::WriteSession{s});
        storage::CommandRecord sh{.session_id = s.id, .seq = 0, .time_ns = s.start_ns, .boot_ns = s.start_boot_ns,
                                  .pid = s.leader_pid, .ppid = 4000, .ns_pid = 1000, .uid = 0, .gid = 0, .filename = "/bin/sh",
                                  .argv = probe, .retval = 0};
        sh.exe_path = "/usr/bin/dash";
        sh.exe_ino = 131;
        sh.exe_dev = (259 << 20) | 1;
        storage::CommandRecord cat = sh;
        cat.seq = 1;
        cat.time_ns += 1'000'000;
        cat.pid = sh.pid + 1;
        cat.ppid = sh.pid;
        cat.ns_pid = 1001;
        cat.filename = "/bin/cat";
        cat.argv = {"cat", "/tmp/healthy"};
        cat.exe_path = "/usr/bin/cat";
        cat.exe_ino = 140;
        w.submit(storage::WriteCommand{sh});
        w.submit(storage::WriteCommand{cat});
        storage::ChunkEncoder e;
        e.add_bytes(2000, storage::FrameKind::output, "ok\n");
        storage::ChunkRecord c{.session_id = s.id, .seq = 0};
        c.first_offset_us = e.first_offset_us();
        c.last_offset_us = e.last_offset_us();
        c.frames = e.frames();
        c.output_bytes = e.output_bytes();
        c.frames_data = e.take();
        w.submit(storage::WriteChunk{std::move(c)});
        s.status = "ended";
        s.end_ns = s.start_ns + 4'000'000;
        s.exit_code = 0;
        s.commands = 2;
        s.output_bytes = 3;
        s.last_activity_ns = *s.end_ns;
        s.kubelet = storage::KubeletCheck{.kubelet = true, .entered_via = "probe", .name = "liveness"};
        w.submit(storage::WriteSession{s});
        w.submit(storage::WriteAttribution{.session_id = s.id, .attribution = "kubelet", .entered_via = "probe"});
    }
    w.flush();
}

int64_t live_bytes(const std::string& db_path) {
    auto db = storage::Database::open(db_path, storage::Database::Mode::read_write);
    auto pragma = [&](const char* sql) {
        auto st = db.prepare(sql);
        return st.step() ? st.column_int(0) : 0;
    };
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return (pragma("PRAGMA page_count") - pragma("PRAGMA freelist_count")) * pragma("PRAGMA page_size");
}

}  // namespace

void probe_figures(const Scale& scale, Report& report) {
    testing::TempDir dir;
    int runs = scale.mode == Scale::Mode::smoke ? 720 : 8640;  // two hours, or a day, of a 10 s probe
    int64_t empty = live_bytes(dir.file("empty.db"));
    std::string db = dir.file("probes.db");
    write_probe_runs(db, runs);
    int64_t unfolded = live_bytes(db) - empty;
    report.add({"probe_run_bytes", static_cast<double>(unfolded) / runs, "B/run", std::nullopt,
                fmt::format("{} runs of a 10 s exec probe (sh -c + cat, 3 bytes of output), each its own row", runs)});
    uint64_t folded = 0;
    {
        storage::Retention r(db, {}, nullptr, {.pause = std::chrono::milliseconds(0)});
        folded = r.run_pass(kT0 + runs * 10 * kSec + 60 * kSec).folded;
    }
    int64_t after = live_bytes(db) - empty;
    report.add({"probe_run_bytes_folded", static_cast<double>(after) / runs, "B/run", Target{Target::Op::at_most, 1024},
                fmt::format("the same after retention folded {} of them into {} rows (an hour each): what stays per run is "
                            "its tombstone and two ledger entries",
                            folded, runs - static_cast<int>(folded))});
}

}  // namespace execaudit::bench
