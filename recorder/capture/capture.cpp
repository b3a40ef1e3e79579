#include "recorder/capture/capture.h"

#include "common/errors.h"
#include "common/log.h"
#include "execaudit_bpf.skel.h"
#include "recorder/capture/boot_clock.h"

#include <bpf/libbpf.h>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <bpf/bpf.h>

#include <cstdarg>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace execaudit::recorder {
namespace {

constexpr size_t kBatchBytes = 4u << 20;      // hand over to the tracker every 4 MiB
constexpr int kBatchFull = -7777;             // our callback's "stop here, batch is full"
constexpr int kMaxBatchesPerDrain = 8;        // then let the io_context run other work

// While an attempt whose failure is expected and reported by us runs (the tty layer's fexit on a
// kernel without trampolines), libbpf's warnings are debug lines: they would only mislead.
bool libbpf_quiet = false;

int libbpf_to_log(enum libbpf_print_level level, const char* format, va_list args) {
    if (libbpf_quiet && level == LIBBPF_WARN) level = LIBBPF_DEBUG;
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

// Per-task and per-container state an older build's programs kept, taken over on an upgrade:
// which process belongs to which session, each container's init and namespaces.
constexpr const char* kStateMaps[] = {"ea_session_of", "ea_init_seen", "ea_container_ns"};

/// Copies every entry of `from` missing in `to`. Returns how many, or -1 when their layouts differ.
long copy_map_entries(int from, int to) {
    bpf_map_info a{}, b{};
    uint32_t la = sizeof(a), lb = sizeof(b);
    if (bpf_obj_get_info_by_fd(from, &a, &la) || bpf_obj_get_info_by_fd(to, &b, &lb)) return -1;
    if (a.key_size != b.key_size || a.value_size != b.value_size) return -1;
    std::vector<std::byte> key(a.key_size), next(a.key_size), value(a.value_size);
    long copied = 0;
    void* prev = nullptr;
    while (bpf_map_get_next_key(from, prev, next.data()) == 0) {
        key = next;
        prev = key.data();
        if (bpf_map_lookup_elem(from, key.data(), value.data()) != 0) continue;  // gone meanwhile
        if (bpf_map_update_elem(to, key.data(), value.data(), BPF_NOEXIST) == 0) ++copied;
    }
    return copied;
}

uint32_t ns_inode(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

}  // namespace

void Capture::SkeletonDeleter::operator()(execaudit_bpf* s) const { execaudit_bpf__destroy(s); }
void Capture::RingDeleter::operator()(ring_buffer* r) const { ring_buffer__free(r); }
void Capture::LinkDeleter::operator()(bpf_link* l) const { bpf_link__destroy(l); }

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

    if (options_.tty_hook != TtyHook::tracepoint) {
        std::string why;
        {
            struct Quiet {
                explicit Quiet(bool on) { libbpf_quiet = on; }
                ~Quiet() { libbpf_quiet = false; }
            } quiet(options_.tty_hook == TtyHook::automatic);
            why = load(true, levels);
            if (why.empty()) why = try_attach_tty_layer();
        }
        if (why.empty()) {
            tty_hook_ = TtyHook::fexit;
        } else if (options_.tty_hook == TtyHook::fexit) {
            throw RuntimeError(fmt::format(
                "--tty-hook fexit: the kernel refused the tty layer's fexit programs: {} (it needs BPF trampolines, "
                "Linux 6.4+ with BTF; --tty-hook auto falls back to the syscall tracepoint; EXECAUDIT_LOG=debug "
                "says more)", why));
        } else {
            tty_fallback_ = "fexit on the tty layer was refused: " + why + " (EXECAUDIT_LOG=debug shows libbpf's log)";
            skel_.reset();
            // what this attempt pinned goes with it (libbpf unpins on a failed load; not after an attach)
            if (pinned() && tag_created_) remove_pins(options_.pin_dir + "/" + tag_);
            lock_.reset();
        }
    }
    if (tty_hook_ == TtyHook::tracepoint) {
        if (std::string why = load(false, levels); !why.empty()) {
            if (pinned() && resumed_)
                throw RuntimeError(fmt::format(
                    "cannot load execaudit's BPF programs over the maps pinned in {}: {} (a pinned map that is not what "
                    "this build created? `execaudit detach --bpf-pin-dir {}` removes them; EXECAUDIT_LOG=debug says "
                    "more)", options_.pin_dir + "/" + tag_, why, options_.pin_dir));
            throw RuntimeError(fmt::format(
                "the kernel refused execaudit's BPF programs: {} (needs root with CAP_BPF and CAP_PERFMON, Linux 5.17+ "
                "with BTF at /sys/kernel/btf/vmlinux; run with EXECAUDIT_LOG=debug for the verifier's log)", why));
        }
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

std::string Capture::load(bool fexit, uint32_t levels) {
    tag_created_ = false;
    skel_.reset(execaudit_bpf__open());
    if (!skel_) throw RuntimeError(fmt::format("cannot open the BPF programs: {}", errno_text(errno)));

    size_t ring = round_up_pow2(options_.ring_bytes);
    skel_->rodata->ea_scope_levels = levels;
    skel_->rodata->ea_wakeup_mark = ring / 4;
    skel_->rodata->ea_keep_echo_off_input = options_.keep_echo_off_input ? 1 : 0;
    skel_->rodata->ea_host_mnt_ns = host_ns_.mnt;
    skel_->rodata->ea_host_pid_ns = host_ns_.pid;
    skel_->rodata->ea_tty_hook_fexit = fexit ? 1 : 0;
    // exactly one terminal hook family: both would record every byte twice
    for (bpf_program* p : {skel_->progs.ea_sys_exit, skel_->progs.ea_io_uring_complete})
        bpf_program__set_autoload(p, !fexit);
    for (bpf_program* p : {skel_->progs.ea_tty_write_entry, skel_->progs.ea_tty_write_exit,
                           skel_->progs.ea_tty_read_entry, skel_->progs.ea_tty_read_exit})
        bpf_program__set_autoload(p, fexit);
    // task storage backs the fexit programs only; an older kernel may not have it at all
    bpf_map__set_autocreate(skel_->maps.ea_tty_call, fexit);
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) throw RuntimeError(fmt::format("cannot count the possible CPUs: {}", errno_text(cpus)));
    if (int err = bpf_map__set_max_entries(skel_->maps.ea_scratch_map, static_cast<uint32_t>(cpus)))
        throw RuntimeError(fmt::format("cannot size the scratch map to {} CPUs: {}", cpus, errno_text(err)));
    if (int err = bpf_map__set_max_entries(skel_->maps.ea_events, static_cast<uint32_t>(ring)))
        throw RuntimeError(fmt::format("cannot size the ring buffer to {} bytes: {}", ring, errno_text(err)));
    // Session ids start at the boot-time clock: a new program set (an upgrade, pins removed)
    // never hands out an id an older one used in this boot.
    skel_->bss->ea_next_session = BootClock::now_boot_ns();

    if (pinned()) {
        namespace fs = std::filesystem;
        ensure_bpffs(options_.pin_dir);
        lock_ = std::make_unique<PinLock>(options_.pin_dir);
        size_t object_size = 0;
        const void* object = execaudit_bpf__elf_bytes(&object_size);
        tag_ = recorder::pin_tag(std::span(static_cast<const std::byte*>(object), object_size),
                                 std::as_bytes(std::span(skel_->rodata, 1)), ring, static_cast<uint32_t>(cpus));
        std::string maps = options_.pin_dir + "/" + tag_ + "/maps";
        tag_created_ = !fs::exists(options_.pin_dir + "/" + tag_);
        std::error_code ec;
        fs::create_directories(maps, ec);
        fs::create_directories(options_.pin_dir + "/" + tag_ + "/links", ec);
        if (ec) throw RuntimeError(fmt::format("cannot create {}: {}", maps, ec.message()));
        resumed_ = fs::exists(maps + "/ea_session_of");
        bpf_map* map;
        bpf_object__for_each_map(map, skel_->obj) {
            if (bpf_map__is_internal(map)) continue;  // .rodata is config, .bss only seeds ids
            if (!bpf_map__autocreate(map)) continue;
            std::string path = maps + "/" + bpf_map__name(map);
            if (int err = bpf_map__set_pin_path(map, path.c_str()))
                throw RuntimeError(fmt::format("cannot pin map {} at {}: {}", bpf_map__name(map), path, errno_text(err)));
        }
        old_tags_.clear();
        for (const auto& t : pinned_tags(options_.pin_dir))
            if (t != tag_) {
                old_tags_.push_back(t);
                if (fs::exists(options_.pin_dir + "/" + t + "/maps/ea_session_of")) resumed_ = true;
            }
    }

    if (int err = execaudit_bpf__load(skel_.get())) {
        // a tag directory made for this attempt goes with it (libbpf unpins the maps it pinned)
        if (pinned() && tag_created_) remove_pins(options_.pin_dir + "/" + tag_);
        return errno_text(err);
    }
    return "";

}

std::string Capture::try_attach_tty_layer() {
    for (bpf_program* p : {skel_->progs.ea_tty_write_entry, skel_->progs.ea_tty_write_exit,
                           skel_->progs.ea_tty_read_entry, skel_->progs.ea_tty_read_exit}) {
        std::unique_ptr<bpf_link, LinkDeleter> link(bpf_program__attach(p));
        if (!link) return fmt::format("cannot attach {}: {}", bpf_program__name(p), errno_text(errno));
    }
    return "";
}

std::string_view Capture::tty_hook_name(TtyHook hook) {
    switch (hook) {
        case TtyHook::fexit: return "fexit";
        case TtyHook::tracepoint: return "tracepoint";
        case TtyHook::automatic: break;
    }
    return "auto";
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
    if (pinned()) {
        // An older build's state first, so its sessions are known when the new programs run;
        // then its links go, what changed meanwhile is copied again, and its ring is drained.
        for (const auto& t : old_tags_) take_over(t, false);
        attach_pinned();
        for (const auto& t : old_tags_) take_over(t, true);
        old_tags_.clear();
    } else {
        if (int err = execaudit_bpf__attach(skel_.get()))
            throw RuntimeError(fmt::format("cannot attach the BPF programs: {} (tracepoints need tracefs)", errno_text(err)));
        attached_ = 0;
        bpf_program* prog;
        bpf_object__for_each_program(prog, skel_->obj) attached_ += bpf_program__autoload(prog) ? 1 : 0;
    }

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
    if (pinned()) {
        // The programs stay attached (their pins hold them) and keep filling the ring for the
        // next recorder; this one takes what is there now and lets go of its links.
        drain();
        for (auto& link : links_) bpf_link__disconnect(link.get());
        links_.clear();
        return;
    }
    // Detach first so nothing new arrives, then take what is left.
    execaudit_bpf__detach(skel_.get());
    drain();
}

void Capture::attach_pinned() {
    attached_ = continued_ = 0;
    std::string dir = options_.pin_dir + "/" + tag_ + "/links/";
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel_->obj) {
        if (!bpf_program__autoload(prog)) continue;  // the other terminal hook family
        std::string path = dir + bpf_program__name(prog);
        bpf_link* link = nullptr;
        if (::access(path.c_str(), F_OK) == 0) {
            link = bpf_link__open(path.c_str());
            if (!link) {
                // not a link (or a stale one): replace it with ours
                log::warn("pin {} is not a usable BPF link ({}); attaching anew", path, errno_text(errno));
                ::unlink(path.c_str());
            } else {
                ++continued_;
            }
        }
        if (!link) {
            link = bpf_program__attach(prog);
            if (!link)
                throw RuntimeError(fmt::format("cannot attach BPF program {}: {} (tracepoints need tracefs)",
                                               bpf_program__name(prog), errno_text(errno)));
            if (int err = bpf_link__pin(link, path.c_str())) {
                bpf_link__destroy(link);
                throw RuntimeError(fmt::format("cannot pin the link of {} at {}: {}", bpf_program__name(prog), path,
                                               errno_text(err)));
            }
        }
        links_.emplace_back(link);
        ++attached_;
    }
}

void Capture::take_over(const std::string& old_tag, bool links_removed) {
    std::string old_dir = options_.pin_dir + "/" + old_tag;
    if (links_removed) {
        // detaches the old programs: nothing else holds their links
        remove_pins(old_dir + "/links");
    }
    for (const char* name : kStateMaps) {
        std::string path = old_dir + "/maps/" + name;
        int from = bpf_obj_get(path.c_str());
        if (from < 0) continue;
        bpf_map* to = bpf_object__find_map_by_name(skel_->obj, name);
        long n = to ? copy_map_entries(from, bpf_map__fd(to)) : -1;
        ::close(from);
        if (n < 0)
            log::warn("pins {}: map {} has another layout than this build's: its entries are not taken over", old_tag, name);
        else if (n > 0)
            log::info("pins {}: took over {} entries of {}", old_tag, n, name);
    }
    if (!links_removed) return;
    int ring_fd = bpf_obj_get((old_dir + "/maps/ea_events").c_str());
    if (ring_fd >= 0) {
        drain_ring_fd(ring_fd);
        ::close(ring_fd);
    }
    size_t n = remove_pins(old_dir);
    log::info("replaced the programs of an earlier build (pins {}, {} removed)", old_tag, n);
}

void Capture::drain_ring_fd(int fd) {
    std::unique_ptr<ring_buffer, RingDeleter> ring(ring_buffer__new(fd, &Capture::on_sample, this, nullptr));
    if (!ring) {
        log::warn("cannot map an earlier build's ring buffer: {}; what it held is lost", errno_text(errno));
        return;
    }
    for (;;) {
        batch_.clear();
        int n = ring_buffer__consume(ring.get());
        if (!batch_.empty()) on_batch_(batch_);
        if (n != kBatchFull) break;
    }
}

namespace {
// The value of ea_session_of (bpf/common.bpf.h, struct session_task).
struct SessionTask {
    uint64_t session_id;
    uint32_t leader_tgid;
    uint32_t reserved;
    uint64_t lost_events;
    uint64_t lost_bytes;
};
}  // namespace

bool Capture::follows(uint32_t tgid) const {
    SessionTask st{};
    return bpf_map__lookup_elem(skel_->maps.ea_session_of, &tgid, sizeof(tgid), &st, sizeof(st), 0) == 0;
}

bool Capture::follow(uint32_t tgid, uint64_t session_id, uint32_t leader) {
    if (bpf_map__value_size(skel_->maps.ea_session_of) != sizeof(SessionTask)) return false;
    SessionTask st{.session_id = session_id, .leader_tgid = leader, .reserved = 0, .lost_events = 0, .lost_bytes = 0};
    return bpf_map__update_elem(skel_->maps.ea_session_of, &tgid, sizeof(tgid), &st, sizeof(st), BPF_NOEXIST) == 0;
}

uint64_t Capture::new_adopted_session_id() {
    last_adopted_id_ = std::max(last_adopted_id_ + 1, BootClock::now_boot_ns());
    return last_adopted_id_ | (uint64_t{1} << 63);
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
