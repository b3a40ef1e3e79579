#include "recorder/capture/session_tracker.h"

#include "common/log.h"
#include "common/text.h"
#include "recorder/pods/container_scan.h"

#include <fmt/format.h>
#include <sys/random.h>
#include <unistd.h>

#include <utility>

namespace execaudit::recorder {
namespace {

constexpr uint64_t kLivenessCheckEveryNs = 2'000'000'000;

std::vector<std::string> to_strings(const std::vector<std::string_view>& views) {
    return {views.begin(), views.end()};
}

}  // namespace

std::string render_tty_echo(std::string_view typed, bool onlcr) {
    // n_tty's echo with its defaults (ECHOCTL): controls as ^X, DEL as ^?, newline and tab as is
    std::string out;
    out.reserve(typed.size() + 8);
    for (char ch : typed) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '\n') out += onlcr ? "\r\n" : "\n";
        else if (c == '\t') out += '\t';
        else if (c < 0x20) out += '^', out += static_cast<char>(c + 0x40);
        else if (c == 0x7F) out += "^?";
        else out += ch;
    }
    return out;
}

std::string new_session_id() {
    uint64_t v = 0;
    while (getrandom(&v, sizeof(v), 0) != static_cast<ssize_t>(sizeof(v))) {
    }
    return fmt::format("{:016x}", v);
}

SessionTracker::SessionTracker(Options options, Resolver resolver, Sink sink, const BootClock& clock)
    : options_(std::move(options)), resolver_(std::move(resolver)), sink_(std::move(sink)), clock_(clock) {}

size_t SessionTracker::open_sessions() const {
    size_t n = 0;
    for (const auto& [id, s] : sessions_) n += s.record.status == "open";
    return n;
}

void SessionTracker::on_event(const Event& event) {
    std::visit(
        [this](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, ExecEvent>) on_exec(e);
            else if constexpr (std::is_same_v<T, ExecResultEvent>) on_exec_result(e);
            else if constexpr (std::is_same_v<T, TtyIoEvent>) on_tty(e);
            else if constexpr (std::is_same_v<T, ExitEvent>) on_exit(e);
            else if constexpr (std::is_same_v<T, UncapturedEvent>) on_uncaptured(e);
            else on_lost(e);
        },
        event);
}

SessionTracker::Tracked& SessionTracker::session_for(const ea_header& hdr, const ExecEvent* start) {
    auto it = sessions_.find(hdr.session_id);
    if (it != sessions_.end()) return it->second;
    return start_session(hdr, start);
}

SessionTracker::Tracked& SessionTracker::start_session(const ea_header& hdr, const ExecEvent* start) {
    Tracked& s = sessions_[hdr.session_id];
    auto& r = s.record;
    r.id = new_session_id();
    r.node = options_.node;
    r.boot_id = options_.boot_id;
    r.cgroup_id = hdr.cgroup_id;
    r.start_boot_ns = hdr.ts_boot_ns;
    r.start_ns = clock_.to_wall_ns(hdr.ts_boot_ns);
    r.leader_pid = hdr.pid;
    r.kernel_session_id = hdr.session_id;
    if (start) {
        r.leader_start_ns = start->task_start_ns;
        r.command = to_strings(start->argv);
        r.command_truncated = start->argv_truncated();
        // how it came in: the parent's command (runc for an exec), or what the kernel side saw
        r.entered_via = start->nsenter() ? "nsenter" : start->tty_init() ? "tty-init" : std::string(start->parent_comm);
        r.tty = start->stdio_tty();
    } else {
        // The session's first record never arrived (ring buffer full): keep what this one says.
        r.start_lost = true;
        ++stats_.sessions_start_lost;
    }
    // an nsenter session runs in the node's cgroup: it belongs to the container it joined
    uint64_t cgroup_id = start && start->nsenter() && start->target_cgroup_id ? start->target_cgroup_id : hdr.cgroup_id;
    r.cgroup_id = cgroup_id;
    PodIdentity pod = resolver_(cgroup_id);
    r.cgroup_path = pod.cgroup_path;
    r.namespace_name = pod.namespace_name;
    r.pod = pod.pod;
    r.pod_uid = pod.pod_uid;
    r.container = pod.container;
    r.container_id = pod.container_id;
    r.pod_meta = std::move(pod.meta);
    r.cluster = options_.cluster;
    s.last_event_boot_ns = hdr.ts_boot_ns;
    ++stats_.sessions_started;
    log::info("session {} started: {}/{} container {} pid {} via {}{}: {}", r.id, r.namespace_name, r.pod,
              r.container, r.leader_pid, terminal_safe(r.entered_via), r.start_lost ? " (start record lost)" : "",
              terminal_safe(join_argv(r.command)));
    write_session(s);
    if (observer_) observer_(r, false);
    return s;
}

uint64_t SessionTracker::offset_us(const Tracked& s, uint64_t boot_ns) const {
    return boot_ns > s.record.start_boot_ns ? (boot_ns - s.record.start_boot_ns) / 1000 : 0;
}

void SessionTracker::touch(Tracked& s, uint64_t boot_ns) {
    s.last_event_boot_ns = std::max(s.last_event_boot_ns, boot_ns);
    s.record.last_activity_ns = clock_.to_wall_ns(s.last_event_boot_ns);
    s.dirty = true;
}

void SessionTracker::on_exec(const ExecEvent& e) {
    Tracked& s = session_for(e.hdr, e.session_start() ? &e : nullptr);
    // A result still pending for this thread means its result record was lost.
    if (auto it = s.pending_execs.find(e.hdr.tid); it != s.pending_execs.end()) {
        auto lost = std::move(it->second);
        s.pending_execs.erase(it);
        emit_command(s, std::move(lost));
    }
    storage::CommandRecord c;
    c.session_id = s.record.id;
    c.time_ns = clock_.to_wall_ns(e.hdr.ts_boot_ns);
    c.boot_ns = e.hdr.ts_boot_ns;
    c.pid = e.hdr.pid;
    c.ppid = e.ppid;
    c.ns_pid = e.ns_pid;
    c.uid = e.uid;
    c.gid = e.gid;
    c.filename = std::string(e.filename);
    c.argv = to_strings(e.argv);
    c.argv_truncated = e.argv_truncated();
    c.seq = s.next_command_seq++;  // timeline order is exec order, whenever the result arrives
    s.record.commands = s.next_command_seq;
    if (c.seq == 0 && s.record.command.empty()) {
        s.record.command = c.argv;
        s.record.command_truncated = c.argv_truncated;
    }
    s.pending_execs[e.hdr.tid] = std::move(c);
    touch(s, e.hdr.ts_boot_ns);
}

void SessionTracker::on_exec_result(const ExecResultEvent& e) {
    Tracked& s = session_for(e.hdr, nullptr);
    auto it = s.pending_execs.find(e.hdr.tid);
    if (it == s.pending_execs.end()) {
        // A thread other than the leader exec'd and took over the process's pid (de_thread).
        for (auto p = s.pending_execs.begin(); p != s.pending_execs.end(); ++p)
            if (p->second.pid == e.hdr.pid) {
                it = p;
                break;
            }
    }
    if (it == s.pending_execs.end()) return;  // its exec record was lost; the gap marker says so
    auto c = std::move(it->second);
    s.pending_execs.erase(it);
    c.retval = e.retval;
    c.exe_path = std::string(e.exe_path);
    c.exe_ino = e.exe_ino;
    c.exe_dev = e.exe_dev;
    c.exe_fileless = e.fileless();
    if (c.exe_fileless)
        log::warn("session {}: pid {} runs a fileless executable ({}; argv {})", s.record.id, c.pid,
                  terminal_safe(c.exe_path), terminal_safe(join_argv(c.argv)));
    emit_command(s, std::move(c));
    touch(s, e.hdr.ts_boot_ns);
}

void SessionTracker::emit_command(Tracked& s, storage::CommandRecord c) {
    ++stats_.commands;
    if (command_observer_) command_observer_(c);
    sink_(storage::WriteCommand{std::move(c)});
    s.dirty = true;
}

void SessionTracker::flush_pending_execs(Tracked& s, std::optional<uint32_t> pid) {
    for (auto it = s.pending_execs.begin(); it != s.pending_execs.end();) {
        if (!pid || it->second.pid == *pid) {
            auto c = std::move(it->second);
            it = s.pending_execs.erase(it);
            emit_command(s, std::move(c));
        } else {
            ++it;
        }
    }
}

void SessionTracker::on_tty(const TtyIoEvent& e) {
    Tracked& s = session_for(e.hdr, nullptr);
    uint64_t at = offset_us(s, e.hdr.ts_boot_ns);
    if (s.chunk.empty()) s.chunk_opened_boot_ns = e.hdr.ts_boot_ns;
    if (e.rows && e.cols && (e.rows != s.rows || e.cols != s.cols)) {
        s.rows = e.rows;
        s.cols = e.cols;
        if (!s.record.rows) {
            s.record.rows = e.rows;
            s.record.cols = e.cols;
        }
        s.chunk.add_resize(at, e.rows, e.cols);
    }
    s.record.tty = true;
    if (e.masked()) {
        // a password prompt: how many bytes were typed, never which
        s.chunk.add_masked_input(at, e.masked_len);
        s.record.input_bytes += e.masked_len;
        stats_.input_bytes += e.masked_len;
    } else if (e.input()) {
        s.chunk.add_bytes(at, e.echo_off() ? storage::FrameKind::input_echo_off : storage::FrameKind::input, e.data);
        s.record.input_bytes += e.data.size();
        stats_.input_bytes += e.data.size();
        // the tty echoed it as it was typed; no tracepoint sees that echo, so draw what it showed
        if (e.kernel_echo()) s.chunk.add_kernel_echo(at, render_tty_echo(e.data, e.onlcr()));
    } else {
        add_output(s, at, e.hdr.ts_boot_ns, e.data, e.onlcr());
    }
    touch(s, e.hdr.ts_boot_ns);
    if (s.chunk.size_bytes() >= options_.chunk_bytes) seal_chunk(s);
}

void SessionTracker::add_output(Tracked& s, uint64_t at, uint64_t boot_ns, std::string_view data, bool onlcr) {
    s.record.output_bytes += data.size();  // what the session wrote, stored or not
    stats_.output_bytes += data.size();
    if (uint64_t cap = options_.max_output_bytes) {
        uint64_t room = s.stored_output_bytes >= cap ? 0 : cap - s.stored_output_bytes;
        if (data.size() > room) {
            uint64_t excess = data.size() - room;
            if (!s.capped_bytes) {
                s.capped_at_us = at;
                s.capped_since_boot_ns = boot_ns;
            }
            if (!std::exchange(s.cap_reached, true))
                log::warn("session {}: reached --max-session-output-mb ({} MiB): further output is counted as lost, not "
                          "stored", s.record.id, cap >> 20);
            s.capped_bytes += excess;
            s.capped_events += 1;
            s.record.lost_bytes += excess;
            s.record.lost_events += 1;
            stats_.lost_bytes += excess;
            stats_.lost_events += 1;
            stats_.capped_bytes += excess;
            data = data.substr(0, room);
        }
        s.stored_output_bytes += data.size();
        if (data.empty()) return;
    }
    // What the terminal received: the tty turns each \n into \r\n after the write.
    if (onlcr) s.chunk.add_output_onlcr(at, data);
    else s.chunk.add_bytes(at, storage::FrameKind::output, data);
}

void SessionTracker::add_cap_gap(Tracked& s) {
    if (!s.capped_bytes) return;
    if (s.chunk.empty()) s.chunk_opened_boot_ns = s.capped_since_boot_ns;
    s.chunk.add_gap(s.capped_at_us, s.capped_events, s.capped_bytes, storage::GapCause::output_cap);
    s.capped_bytes = s.capped_events = 0;
}

void SessionTracker::on_lost(const LostEvent& e) {
    Tracked& s = session_for(e.hdr, nullptr);
    if (s.chunk.empty()) s.chunk_opened_boot_ns = e.hdr.ts_boot_ns;
    s.chunk.add_gap(offset_us(s, e.hdr.ts_boot_ns), e.lost_events, e.lost_bytes);
    s.record.lost_events += e.lost_events;
    s.record.lost_bytes += e.lost_bytes;
    stats_.lost_events += e.lost_events;
    stats_.lost_bytes += e.lost_bytes;
    log::warn("session {}: {} records ({} terminal bytes) were lost in the kernel (ring buffer full)", s.record.id,
              e.lost_events, e.lost_bytes);
    touch(s, e.hdr.ts_boot_ns);
}

void SessionTracker::on_uncaptured(const UncapturedEvent& e) {
    Tracked& s = session_for(e.hdr, nullptr);
    if (s.chunk.empty()) s.chunk_opened_boot_ns = e.hdr.ts_boot_ns;
    s.chunk.add_gap(offset_us(s, e.hdr.ts_boot_ns), 1, e.bytes, storage::GapCause::uncaptured);
    s.record.lost_events += 1;
    s.record.lost_bytes += e.bytes;
    stats_.lost_events += 1;
    stats_.lost_bytes += e.bytes;
    ++stats_.uncaptured_events;
    stats_.uncaptured_bytes += e.bytes;
    log::warn("session {}: {} terminal bytes {} the terminal through {}, which capture cannot read: counted as lost",
              s.record.id, e.bytes, e.input() ? "came from" : "went to", uncaptured_path_name(e.path));
    touch(s, e.hdr.ts_boot_ns);
}

void SessionTracker::on_exit(const ExitEvent& e) {
    Tracked& s = session_for(e.hdr, nullptr);
    flush_pending_execs(s, e.hdr.pid);
    touch(s, e.hdr.ts_boot_ns);
    if (e.leader() && s.record.status == "open") end_session(s, e.hdr.ts_boot_ns, e.exit_code, "ended");
}

void SessionTracker::end_session(Tracked& s, uint64_t boot_ns, std::optional<int32_t> wait_status, const char* status) {
    auto& r = s.record;
    flush_pending_execs(s, std::nullopt);
    seal_chunk(s);
    r.status = status;
    r.end_ns = clock_.to_wall_ns(std::max(boot_ns, r.start_boot_ns));
    if (wait_status) {
        int sig = *wait_status & 0x7f;
        if (sig) {
            r.exit_signal = sig;
            r.exit_code = 128 + sig;
        } else {
            r.exit_code = (*wait_status >> 8) & 0xff;
        }
    }
    ++stats_.sessions_ended;
    log::info("session {} {}: exit code {}, {} commands, {} bytes out, {} bytes in, {} lost", r.id, status,
              r.exit_code ? std::to_string(*r.exit_code) : "unknown", r.commands, r.output_bytes, r.input_bytes,
              r.lost_bytes);
    if (end_judge_) end_judge_(r);
    write_session(s);
    if (observer_) observer_(r, true);
}

void SessionTracker::seal_chunk(Tracked& s) {
    add_cap_gap(s);  // a chunk carries the count of what its time lost to the cap
    if (s.chunk.empty()) return;
    storage::ChunkRecord c;
    c.session_id = s.record.id;
    c.seq = s.next_chunk_seq++;
    c.first_offset_us = s.chunk.first_offset_us();
    c.last_offset_us = s.chunk.last_offset_us();
    c.frames = s.chunk.frames();
    c.output_bytes = s.chunk.output_bytes();
    c.input_bytes = s.chunk.input_bytes();
    c.frames_data = s.chunk.take();
    sink_(storage::WriteChunk{std::move(c)});
    s.dirty = true;
}

void SessionTracker::write_session(Tracked& s) {
    sink_(storage::WriteSession{s.record});
    s.dirty = false;
}

bool SessionTracker::leader_alive(const Tracked& s) const {
    auto st = read_proc_stat(s.record.leader_pid);
    if (!st) return false;
    if (!s.record.leader_start_ns) return true;
    // /proc's starttime is in clock ticks since boot; the kernel's record has ns.
    static const long ticks_per_s = sysconf(_SC_CLK_TCK);
    int64_t proc_ns = static_cast<int64_t>(st->start_ticks) * (1'000'000'000 / ticks_per_s);
    int64_t diff = proc_ns - static_cast<int64_t>(s.record.leader_start_ns);
    return diff > -50'000'000 && diff < 50'000'000;  // same process, not a reused pid
}

void SessionTracker::on_tick() {
    uint64_t now = BootClock::now_boot_ns();
    bool check_liveness = options_.check_leader_liveness && now - last_liveness_check_boot_ns_ >= kLivenessCheckEveryNs;
    if (check_liveness) last_liveness_check_boot_ns_ = now;

    for (auto it = sessions_.begin(); it != sessions_.end();) {
        Tracked& s = it->second;
        // a session flooding past its cap says so every 10 s, not only at its end
        if (s.capped_bytes && now - s.capped_since_boot_ns >= 10'000'000'000ull) add_cap_gap(s);
        if (!s.chunk.empty() && now - s.chunk_opened_boot_ns >= static_cast<uint64_t>(options_.chunk_max_age_ns))
            seal_chunk(s);
        if (check_liveness && s.record.status == "open") {
            if (leader_alive(s)) {
                s.leader_gone_since_boot_ns.reset();
            } else if (!s.leader_gone_since_boot_ns) {
                s.leader_gone_since_boot_ns = now;  // its exit record may still be on its way
            } else if (now - *s.leader_gone_since_boot_ns >= kLivenessCheckEveryNs) {
                ++stats_.leaders_found_dead;
                log::warn("session {}: leader pid {} is gone but its exit record never arrived; ending the session "
                          "with an unknown exit code", s.record.id, s.record.leader_pid);
                s.record.lost_events += 1;
                end_session(s, s.last_event_boot_ns, std::nullopt, "ended");
            }
        }
        if (s.dirty) write_session(s);
        if (s.record.status != "open" && s.pending_execs.empty() && s.chunk.empty() &&
            now - s.last_event_boot_ns >= static_cast<uint64_t>(options_.ended_retention_ns)) {
            it = sessions_.erase(it);
        } else {
            ++it;
        }
    }
}

void SessionTracker::suspend_all() {
    for (auto& [kernel_id, s] : sessions_) {
        flush_pending_execs(s, std::nullopt);
        seal_chunk(s);
        write_session(s);
    }
    size_t open = open_sessions();
    if (open) log::info("{} open sessions left to the next recorder (the kernel goes on following them)", open);
}

void SessionTracker::adopt(const Adopted& a, uint64_t now_boot_ns) {
    Tracked& s = sessions_[a.kernel_id];
    auto& r = s.record;
    r.id = new_session_id();
    r.node = options_.node;
    r.boot_id = options_.boot_id;
    r.kernel_session_id = a.kernel_id;
    r.cgroup_id = a.cgroup_id;
    r.start_boot_ns = std::min(a.start_boot_ns, now_boot_ns);
    r.start_ns = clock_.to_wall_ns(r.start_boot_ns);
    r.leader_pid = a.pid;
    r.leader_start_ns = a.start_boot_ns;
    r.command = a.argv;
    r.command_truncated = a.argv_truncated;
    r.entered_via = "adopted";
    r.tty = a.tty;
    PodIdentity pod = resolver_(a.cgroup_id);
    r.cgroup_path = pod.cgroup_path;
    r.namespace_name = pod.namespace_name;
    r.pod = pod.pod;
    r.pod_uid = pod.pod_uid;
    r.container = pod.container;
    r.container_id = pod.container_id;
    r.pod_meta = std::move(pod.meta);
    r.cluster = options_.cluster;
    // everything before now happened while no recorder ran
    s.chunk_opened_boot_ns = now_boot_ns;
    s.chunk.add_recorder_gap(0, offset_us(s, now_boot_ns));
    r.lost_events = 1;
    stats_.lost_events += 1;
    ++stats_.recorder_gaps;
    ++stats_.sessions_started;
    s.last_event_boot_ns = now_boot_ns;
    r.last_activity_ns = clock_.to_wall_ns(now_boot_ns);
    log::warn("session {} adopted: {}/{} container {} pid {} began before the recorder ({}); recorded from now on",
              r.id, r.namespace_name, r.pod, r.container, r.leader_pid, terminal_safe(join_argv(r.command)));
    write_session(s);
    if (observer_) observer_(r, false);
}

void SessionTracker::resume(storage::SessionRecord record, uint32_t next_command_seq, uint32_t next_chunk_seq,
                            bool unfollowed, uint64_t now_boot_ns) {
    uint64_t kernel_id = record.kernel_session_id;
    Tracked& s = sessions_[kernel_id];
    s.record = std::move(record);
    s.next_command_seq = next_command_seq;
    s.next_chunk_seq = next_chunk_seq;
    s.record.commands = std::max(s.record.commands, next_command_seq);
    s.rows = s.record.rows;
    s.cols = s.record.cols;
    auto& r = s.record;
    // the wall clock of its last stored record, on this boot's clock
    int64_t last_wall = std::max(r.last_activity_ns, r.start_ns);
    uint64_t last_boot = r.start_boot_ns + static_cast<uint64_t>(last_wall - r.start_ns);
    s.last_event_boot_ns = last_boot;
    ++stats_.sessions_resumed;
    if (unfollowed && now_boot_ns > last_boot) {
        s.chunk_opened_boot_ns = now_boot_ns;
        s.chunk.add_recorder_gap(offset_us(s, last_boot), offset_us(s, now_boot_ns));
        r.lost_events += 1;
        stats_.lost_events += 1;
        ++stats_.recorder_gaps;
        log::warn("session {} continues; the previous recorder stopped without storing everything: a gap of {:.1f} s "
                  "where nobody recorded it", r.id, static_cast<double>(now_boot_ns - last_boot) / 1e9);
    } else {
        log::info("session {} continues (kernel session {})", r.id, kernel_id);
    }
    s.dirty = true;
}

void SessionTracker::interrupt_all(int64_t now_wall_ns) {
    for (auto& [kernel_id, s] : sessions_) {
        if (s.record.status == "open") {
            flush_pending_execs(s, std::nullopt);
            seal_chunk(s);
            s.record.status = "interrupted";
            s.record.end_ns = std::max(now_wall_ns, s.record.start_ns);
            log::info("session {} interrupted: the recorder is stopping while it runs", s.record.id);
            if (end_judge_) end_judge_(s.record);
            write_session(s);
            if (observer_) observer_(s.record, true);
        } else {
            flush_pending_execs(s, std::nullopt);
            seal_chunk(s);
            if (s.dirty) write_session(s);
        }
    }
}

}  // namespace execaudit::recorder
