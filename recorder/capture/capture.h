#pragma once
// Owns the BPF skeleton: loads and attaches the programs, scopes them to the pod cgroup roots,
// and drains the ring buffer on the recorder's io_context.
//
// Programs submit without waking anyone (a wakeup per record costs ~10% of a container's exec
// rate); Capture drains on a short timer, and the kernel wakes its epoll fd only when the ring
// passes a fill mark.
//
// With a pin directory (bpf_pins.h) the maps and links live in bpffs: the programs go on
// following sessions while no recorder runs, and the next Capture reuses them (resumed()), or,
// when the pins are of another build, takes over their state and replaces them.

#include "events.h"
#include "recorder/capture/bpf_pins.h"
#include "recorder/pods/cgroup_fs.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct execaudit_bpf;
struct ring_buffer;
struct bpf_link;

namespace execaudit::recorder {

/// Where terminal I/O is hooked (bpf/tty.bpf.c). `automatic` tries the tty layer's fexit and
/// falls back to the syscall tracepoint where the kernel refuses trampolines, saying why.
enum class TtyHook { automatic, fexit, tracepoint };

class Capture {
public:
    struct Options {
        std::vector<CgroupRoot> roots;
        size_t ring_bytes = 16u << 20;
        bool keep_echo_off_input = false;  ///< keep password-prompt input instead of its length
        std::chrono::milliseconds drain_interval{5};        ///< while records arrive
        std::chrono::milliseconds idle_drain_interval{100};  ///< reached by doubling while none do
        std::string pin_dir;  ///< empty: nothing pinned, stop() detaches the programs
        TtyHook tty_hook = TtyHook::automatic;
    };
    /// Called on the io_context thread with each batch of records (each 8-byte aligned,
    /// framed as [u32 length][record][padding]). Use for_each_record() to walk it.
    using BatchHandler = std::function<void(std::span<const std::byte> batch)>;

    /// Opens and loads the programs (not yet attached). Throws RuntimeError with the kernel's
    /// reason when they do not load (with TtyHook::fexit: also when the tty layer's are refused).
    Capture(boost::asio::io_context& io, Options options, BatchHandler on_batch);
    ~Capture();
    Capture(const Capture&) = delete;
    Capture& operator=(const Capture&) = delete;

    /// Tells the kernel side which task is a container's init (start-up scan).
    void mark_init(uint64_t cgroup_id, uint32_t tgid);
    /// Is this process followed by the kernel side (a member of a session)?
    bool follows(uint32_t tgid) const;
    /// Makes the kernel side follow a process as a member of `session_id` (led by `leader`):
    /// its records and its children's carry that id from now on. False when it could not.
    bool follow(uint32_t tgid, uint64_t session_id, uint32_t leader);
    /// A session id for a session adopted from /proc: bit 63 set, never one the kernel hands out
    /// (those start at the boot-time clock).
    uint64_t new_adopted_session_id();
    /// Attaches every program and starts draining.
    void start();
    /// Stops draining after a final drain, and detaches (when pinned: leaves the programs
    /// attached, held by their pins). Idempotent.
    void stop();

    size_t programs_attached() const { return attached_; }
    /// The terminal hooks loaded: TtyHook::fexit or TtyHook::tracepoint, never automatic.
    TtyHook tty_hook() const { return tty_hook_; }
    /// Why the tty layer's fexit programs are not used (empty when they are, or were not asked for).
    const std::string& tty_hook_fallback() const { return tty_fallback_; }
    /// "fexit" or "tracepoint", as the start-up line and /metrics say it.
    static std::string_view tty_hook_name(TtyHook hook);
    /// The kernel-side state (sessions, their members) outlived the previous recorder: the
    /// session ids the kernel reports continue its ids. Known once constructed.
    bool resumed() const { return resumed_; }
    /// Programs that were still attached from the previous recorder (pinned links reopened).
    size_t programs_continued() const { return continued_; }
    bool pinned() const { return !options_.pin_dir.empty(); }
    const std::string& pin_tag() const { return tag_; }
    /// Records the ring refused, summed over CPUs.
    ea_drop_counters drops() const;
    /// Records the ring handed over since start.
    uint64_t records_received() const { return records_; }

    /// Walks a batch produced by this class.
    static void for_each_record(std::span<const std::byte> batch,
                                const std::function<void(std::span<const std::byte>)>& fn);

private:
    /// Opens, configures and loads the programs with one terminal hook family. Returns the
    /// kernel's reason when they do not load (nothing is left pinned then).
    std::string load(bool fexit, uint32_t levels);
    /// Attaches and detaches the tty layer's programs once: the kernel may load a trampoline
    /// program and still refuse to attach it.
    std::string try_attach_tty_layer();
    static int on_sample(void* ctx, void* data, size_t size) noexcept;
    /// Takes what the ring holds; returns how many records it handed over.
    uint64_t drain();
    void schedule_drain();
    void wait_for_wakeup();
    void attach_pinned();
    /// Takes over the state of pins of another build, then removes them (start()).
    void take_over(const std::string& old_tag, bool links_removed);
    void drain_ring_fd(int fd);

    boost::asio::io_context& io_;
    Options options_;
    BatchHandler on_batch_;
    struct SkeletonDeleter {
        void operator()(execaudit_bpf* s) const;
    };
    std::unique_ptr<execaudit_bpf, SkeletonDeleter> skel_;
    struct RingDeleter {
        void operator()(ring_buffer* r) const;
    };
    std::unique_ptr<ring_buffer, RingDeleter> ring_;
    boost::asio::steady_timer drain_timer_;
    std::unique_ptr<boost::asio::posix::stream_descriptor> wakeup_fd_;
    std::vector<std::byte> batch_;
    size_t attached_ = 0;
    TtyHook tty_hook_ = TtyHook::tracepoint;
    std::string tty_fallback_;
    bool tag_created_ = false;  ///< load() made this tag's pin directory
    size_t continued_ = 0;
    uint64_t last_adopted_id_ = 0;
    bool resumed_ = false;
    std::string tag_;
    std::vector<std::string> old_tags_;  ///< pins of other builds found at start
    std::unique_ptr<PinLock> lock_;
    struct LinkDeleter {
        void operator()(bpf_link* l) const;
    };
    std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;  ///< pinned mode only
    uint64_t records_ = 0;
    bool running_ = false;
    struct {
        uint32_t mnt, pid;
    } host_ns_;  ///< the node's (pid 1's) namespaces, never a container's
    std::chrono::milliseconds interval_{5};  ///< the drain timer's current period
};

}  // namespace execaudit::recorder
