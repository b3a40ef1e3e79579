#pragma once
// Turns kernel events into sessions: metadata, the command timeline, terminal chunks, resizes,
// gaps, the end and its exit code. Runs on the recorder's event loop; everything it produces
// goes to a sink (the StoreWriter) as write operations, so it never blocks on SQLite itself.
//
// A session whose first record was lost is still recorded (start_lost), never dropped; a
// session whose leader's exit record was lost is ended when /proc shows the leader gone.

#include "recorder/capture/boot_clock.h"
#include "recorder/capture/event_decoder.h"
#include "recorder/pods/pod_resolver.h"
#include "storage/io_frames.h"
#include "storage/store_writer.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

namespace execaudit::recorder {

class SessionTracker {
public:
    struct Options {
        std::string node;
        std::string boot_id;
        size_t chunk_bytes = 512 * 1024;              ///< seal a chunk at this size...
        int64_t chunk_max_age_ns = 1'000'000'000;     ///< ...or when its first frame is this old
        int64_t ended_retention_ns = 3600'000'000'000;  ///< forget ended sessions idle this long
        bool check_leader_liveness = true;            ///< off in unit tests with synthetic pids
        /// Terminal output stored per session at most (`record --max-session-output-mb`); what
        /// comes beyond is counted as lost (a gap, GapCause::output_cap), never silently. 0: no cap.
        uint64_t max_output_bytes = 0;
        std::optional<std::string> cluster;  ///< `--cluster-name`, on every session
    };
    struct Stats {
        uint64_t sessions_started = 0;
        uint64_t sessions_ended = 0;
        uint64_t commands = 0;
        uint64_t output_bytes = 0;
        uint64_t input_bytes = 0;
        uint64_t lost_events = 0;
        uint64_t lost_bytes = 0;
        uint64_t sessions_start_lost = 0;
        uint64_t sessions_resumed = 0;   ///< continued from the previous recorder
        uint64_t recorder_gaps = 0;      ///< of those, with a time nobody recorded
        uint64_t leaders_found_dead = 0;
        uint64_t uncaptured_events = 0;  ///< sendfile, splice, io_uring... on a terminal (in lost_*)
        uint64_t uncaptured_bytes = 0;
        uint64_t capped_bytes = 0;  ///< output beyond max_output_bytes (in lost_*)
    };
    using Sink = std::function<void(storage::WriteOp)>;
    using Resolver = std::function<PodIdentity(uint64_t cgroup_id)>;
    /// Told when a session starts (ended = false) and when it ends or is interrupted.
    using Observer = std::function<void(const storage::SessionRecord& session, bool ended)>;

    SessionTracker(Options options, Resolver resolver, Sink sink, const BootClock& clock);

    void set_observer(Observer observer) { observer_ = std::move(observer); }
    /// Every command as it is stored (the recorder judges kubelet probe runs by them).
    using CommandObserver = std::function<void(const storage::CommandRecord& command)>;
    void set_command_observer(CommandObserver observer) { command_observer_ = std::move(observer); }
    /// Fills what is known of a session only once it ends (its kubelet judgement), just before its
    /// end is stored: the end and the judgement are one record, and leave the node together.
    using EndJudge = std::function<void(storage::SessionRecord& session)>;
    void set_end_judge(EndJudge judge) { end_judge_ = std::move(judge); }

    void on_event(const Event& event);
    /// Periodic work (every ~100 ms): seals old chunks, writes changed sessions, notices dead
    /// leaders, forgets long-ended sessions.
    void on_tick();
    /// The recorder is stopping: everything is sealed and written; open sessions become
    /// `interrupted` at `now_wall_ns`.
    void interrupt_all(int64_t now_wall_ns);
    /// The recorder is stopping and the kernel goes on following the sessions (pinned): every
    /// session is sealed and written, and open ones stay open for the next recorder.
    void suspend_all();
    /// A session the previous recorder left open, continued under its id. `unfollowed`: that
    /// recorder did not stop cleanly, so what it had not stored is missing: a recorder gap from
    /// the session's last stored activity until `now_boot_ns`, counted as one lost event.
    /// A session that began before the very first recorder, found in /proc and now followed by
    /// the kernel side under `kernel_id`: recorded from now on, with a recorder gap from its start.
    struct Adopted {
        uint64_t kernel_id = 0;
        uint32_t pid = 0;
        uint64_t cgroup_id = 0;
        uint64_t start_boot_ns = 0;  ///< the leader's start
        std::vector<std::string> argv;
        bool argv_truncated = false;
        bool tty = false;
    };
    void adopt(const Adopted& a, uint64_t now_boot_ns);
    void resume(storage::SessionRecord record, uint32_t next_command_seq, uint32_t next_chunk_seq, bool unfollowed,
                uint64_t now_boot_ns);

    const Stats& stats() const { return stats_; }
    size_t open_sessions() const;

private:
    struct Tracked {
        storage::SessionRecord record;
        storage::ChunkEncoder chunk;
        uint64_t chunk_opened_boot_ns = 0;
        uint32_t next_chunk_seq = 0;
        uint32_t next_command_seq = 0;
        std::map<uint32_t, storage::CommandRecord> pending_execs;  ///< by tid, awaiting their result
        uint32_t rows = 0, cols = 0;
        bool dirty = false;
        uint64_t last_event_boot_ns = 0;
        std::optional<uint64_t> leader_gone_since_boot_ns;
        uint64_t stored_output_bytes = 0;  ///< what counts against max_output_bytes
        bool cap_reached = false;
        // output beyond the cap since the last gap frame that says so
        uint64_t capped_bytes = 0, capped_events = 0, capped_at_us = 0, capped_since_boot_ns = 0;
    };

    Tracked& session_for(const ea_header& hdr, const ExecEvent* start);
    Tracked& start_session(const ea_header& hdr, const ExecEvent* start);
    void on_exec(const ExecEvent& e);
    void on_exec_result(const ExecResultEvent& e);
    void on_tty(const TtyIoEvent& e);
    void on_exit(const ExitEvent& e);
    void on_lost(const LostEvent& e);
    void on_uncaptured(const UncapturedEvent& e);

    uint64_t offset_us(const Tracked& s, uint64_t boot_ns) const;
    void touch(Tracked& s, uint64_t boot_ns);
    void seal_chunk(Tracked& s);
    /// Output as the terminal showed it, within the session's output cap.
    void add_output(Tracked& s, uint64_t at_us, uint64_t boot_ns, std::string_view data, bool onlcr);
    void add_cap_gap(Tracked& s);
    void emit_command(Tracked& s, storage::CommandRecord command);
    void flush_pending_execs(Tracked& s, std::optional<uint32_t> pid);
    void end_session(Tracked& s, uint64_t boot_ns, std::optional<int32_t> wait_status, const char* status);
    void write_session(Tracked& s);
    bool leader_alive(const Tracked& s) const;

    Options options_;
    Resolver resolver_;
    Sink sink_;
    Observer observer_;
    CommandObserver command_observer_;
    EndJudge end_judge_;
    const BootClock& clock_;
    std::unordered_map<uint64_t, Tracked> sessions_;  ///< by kernel session id
    Stats stats_;
    uint64_t last_liveness_check_boot_ns_ = 0;
};

/// What the tty showed for typed input it echoed (ECHO, ECHOCTL; ONLCR maps \n to \r\n).
std::string render_tty_echo(std::string_view typed, bool onlcr);

/// A new session id: 16 lowercase hex characters from the kernel's CSPRNG.
std::string new_session_id();

}  // namespace execaudit::recorder
