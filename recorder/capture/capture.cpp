#include "recorder/capture/capture.h"

#include "common/errors.h"
#include "common/log.h"
#include "execaudit_bpf.skel.h"

#include <bpf/libbpf.h>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <cstdarg>
#include <cstring>
#include <sys/stat.h>

namespace execaudit::recorder {
namespace {

constexpr size_t kBatchBytes = 4u << 20;      // hand over to the tracker every 4 MiB
constexpr int kBatchFull = -7777;             // our callback's "stop here, batch is full"
constexpr int kMaxBatchesPerDrain = 8;        // then let the io_context run other work

int libbpf_to_log(enum libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG && log::level() > log::Level::debug) return 0;
    char buf[1024];
    int n = std::vsnprintf(buf, sizeof(buf), format, args);
    std::string_view msg(buf, n > 0 ? std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1) : 0);
    while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
    if (level == LIBBPF_WARN) log::warn("libbpf: {}", msg);
    else if (level == LIBBPF_INFO) log::debug("libbpf: {}", msg);
    else log::debug("libbpf: {}", msg);
    return n;
}

size_t round_up_pow2(size_t v) {
    size_t p = 4096;
    while (p < v) p <<= 1;
    return p;
}

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

uint32_t ns_inode(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

}  // namespace

void Capture::SkeletonDeleter::operator()(execaudit_bpf* s) const { execaudit_bpf__destroy(s); }
void Capture::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }

Capture::Capture(boost::asio::io_context& io, Options options, BatchHandler on_batch)
    : io_(io), options_(std::move(options)), on_batch_(std::move(on_batch)), drain_timer_(io),
      host_ns_{ns_inode("/proc/1/ns/mnt"), ns_inode("/proc/1/ns/pid")} {
    static bool print_set = (libbpf_set_print(libbpf_to_log), true);
    (void)print_set;

    if (options_.roots.empty()) throw UsageError("no pod cgroup roots to watch");
    uint32_t levels = 0;
    for (const auto& root : options_.roots) {
        if (root.level < 0 || root.level >= 16)
            throw UsageError(fmt::format("cgroup root {} is {} levels deep; at most 15 are supported", root.path, root.level));
        levels |= 1u << root.level;
    }

    skel_.reset(execaudit_bpf__open());
    if (!skel_) throw RuntimeError(fmt::format("cannot open the BPF programs: {}", errno_text(errno)));

    size_t ring = round_up_pow2(options_.ring_bytes);
    skel_->rodata->ea_scope_levels = levels;
    skel_->rodata->ea_wakeup_mark = ring / 4;
    skel_->rodata->ea_keep_echo_off_input = options_.keep_echo_off_input ? 1 : 0;
    skel_->rodata->ea_host_mnt_ns = host_ns_.mnt;
    skel_->rodata->ea_host_pid_ns = host_ns_.pid;
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) throw RuntimeError(fmt::format("cannot count the possible CPUs: {}", errno_text(cpus)));
    if (int err = bpf_map__set_max_entries(skel_->maps.ea_scratch_map, static_cast<uint32_t>(cpus)))
        throw RuntimeError(fmt::format("cannot size the scratch map to {} CPUs: {}", cpus, errno_text(err)));
    if (int err = bpf_map__set_max_entries(skel_->maps.ea_events, static_cast<uint32_t>(ring)))
        throw RuntimeError(fmt::format("cannot size the ring buffer to {} bytes: {}", ring, errno_text(err)));

    if (int err = execaudit_bpf__load(skel_.get())) {
        throw RuntimeError(fmt::format(
            "the kernel refused execaudit's BPF programs: {} (needs root with CAP_BPF and CAP_PERFMON, Linux 5.17+ "
            "with BTF at /sys/kernel/btf/vmlinux; run with EXECAUDIT_LOG=debug for the verifier's log)",
            errno_text(err)));
    }

    uint8_t one = 1;
    for (const auto& root : options_.roots) {
        if (bpf_map__update_elem(skel_->maps.ea_scope_roots, &root.id, sizeof(root.id), &one, sizeof(one), BPF_ANY))
            throw RuntimeError(fmt::format("cannot add cgroup root {} to the scope: {}", root.path, errno_text(errno)));
    }

    ring_.reset(ring_buffer__new(bpf_map__fd(skel_->maps.ea_events), &Capture::on_sample, this, nullptr));
    if (!ring_) throw RuntimeError(fmt::format("cannot map the ring buffer: {}", errno_text(errno)));
    batch_.reserve(kBatchBytes + 64 * 1024);
}

Capture::~Capture() { stop(); }

void Capture::mark_init(uint64_t cgroup_id, uint32_t tgid) {
    bpf_map__update_elem(skel_->maps.ea_init_seen, &cgroup_id, sizeof(cgroup_id), &tgid, sizeof(tgid), BPF_ANY);
    // Its namespaces: a task outside the pod cgroups found in one of them entered from the node.
    for (const char* ns : {"mnt", "pid"}) {
        struct stat st {};
        if (::stat(fmt::format("/proc/{}/ns/{}", tgid, ns).c_str(), &st) != 0) continue;
        auto inum = static_cast<uint32_t>(st.st_ino);
        // a namespace it shares with the node or with us is not the container's (a hostPID pod)
        if (inum == host_ns_.mnt || inum == host_ns_.pid || inum == ns_inode(fmt::format("/proc/self/ns/{}", ns))) continue;
        bpf_map__update_elem(skel_->maps.ea_container_ns, &inum, sizeof(inum), &cgroup_id, sizeof(cgroup_id), BPF_ANY);
    }
}

void Capture::start() {
    if (int err = execaudit_bpf__attach(skel_.get()))
        throw RuntimeError(fmt::format("cannot attach the BPF programs: {} (tracepoints need tracefs; kprobes and "
                                       "fentry are not used)", errno_text(err)));
    attached_ = 0;
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) ++attached_;

    wakeup_fd_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, ::dup(ring_buffer__epoll_fd(ring_.get())));
    running_ = true;
    interval_ = options_.drain_interval;
    wait_for_wakeup();
    schedule_drain();
}

void Capture::stop() {
    if (!running_) return;
    running_ = false;
    drain_timer_.cancel();
    if (wakeup_fd_) {
        boost::system::error_code ec;
        wakeup_fd_->cancel(ec);
        wakeup_fd_->close(ec);
    }
    // Detach first so nothing new arrives, then take what is left.
    execaudit_bpf__detach(skel_.get());
    drain();
}

ea_drop_counters Capture::drops() const {
    ea_drop_counters total{};
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return total;
    std::vector<ea_drop_counters> per_cpu(static_cast<size_t>(ncpu));
    uint32_t zero = 0;
    if (bpf_map__lookup_elem(skel_->maps.ea_drops, &zero, sizeof(zero), per_cpu.data(),
                             per_cpu.size() * sizeof(ea_drop_counters), 0) == 0) {
        for (const auto& c : per_cpu) {
            total.events += c.events;
            total.bytes += c.bytes;
        }
    }
    return total;
}

int Capture::on_sample(void* ctx, void* data, size_t size) noexcept {
    auto* self = static_cast<Capture*>(ctx);
    auto& batch = self->batch_;
    // [u32 length][u32 pad][record][pad to 8]: records stay 8-byte aligned for the decoder.
    size_t at = batch.size();
    size_t padded = (size + 7) & ~size_t{7};
    batch.resize(at + 8 + padded);  // capacity was reserved: no allocation on the hot path
    auto len = static_cast<uint32_t>(size);
    std::memcpy(batch.data() + at, &len, sizeof(len));
    std::memcpy(batch.data() + at + 8, data, size);
    ++self->records_;
    return batch.size() >= kBatchBytes ? kBatchFull : 0;
}

void Capture::for_each_record(std::span<const std::byte> batch,
                              const std::function<void(std::span<const std::byte>)>& fn) {
    size_t pos = 0;
    while (pos + 8 <= batch.size()) {
        uint32_t len;
        std::memcpy(&len, batch.data() + pos, sizeof(len));
        size_t padded = (static_cast<size_t>(len) + 7) & ~size_t{7};
        if (pos + 8 + padded > batch.size()) return;
        fn(batch.subspan(pos + 8, len));
        pos += 8 + padded;
    }
}

uint64_t Capture::drain() {
    if (!ring_) return 0;
    uint64_t before = records_;
    for (int round = 0; round < kMaxBatchesPerDrain; ++round) {
        batch_.clear();
        int n = ring_buffer__consume(ring_.get());
        if (!batch_.empty()) on_batch_(batch_);
        if (n == kBatchFull) continue;
        if (n < 0) log::error("ring buffer: {}", errno_text(n));
        return records_ - before;
    }
    // More is waiting: come back right after other handlers had their turn.
    if (running_) boost::asio::post(io_, [this] { drain(); });
    return records_ - before;
}

void Capture::schedule_drain() {
    drain_timer_.expires_after(interval_);
    drain_timer_.async_wait([this](const boost::system::error_code& ec) {
        if (ec || !running_) return;
        // Quiet node, quiet recorder: the period doubles while nothing arrives (a burst still
        // wakes us through the ring's fill mark) and drops back as soon as records flow.
        interval_ = drain() ? options_.drain_interval : std::min(interval_ * 2, options_.idle_drain_interval);
        schedule_drain();
    });
}

void Capture::wait_for_wakeup() {
    wakeup_fd_->async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
        if (ec || !running_) return;
        drain();
        wait_for_wakeup();
    });
}

}  // namespace execaudit::recorder
