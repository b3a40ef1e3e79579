#pragma once
// The one writer of the database: its own thread, a bounded queue, batched transactions.
// Producers (the recorder's event loop) never touch SQLite; when the queue is full, submit()
// blocks while the writer makes progress, which backs pressure up into the kernel's ring buffer,
// where loss is counted. When the database cannot be written (full or read-only disk, a stalled
// file system), submit() never blocks: terminal chunks and commands beyond the queue are dropped
// and counted per session, and stored as a gap (GapCause::store) as soon as writes succeed again;
// session rows carry the count in lost_bytes / lost_events. Small records (sessions, requests,
// attribution, audit stages) are always queued; while the database refuses writes, a session row
// waiting in the queue is replaced by its newer state rather than queued twice.
//
// The writer also extends each session's hash chain (storage/session_chain.h) over what it
// actually stores, gaps included, inside the same transaction, and stores (and with a signer,
// signs) the head once the session has ended.

#include "storage/compression.h"
#include "storage/database.h"
#include "storage/head_signing.h"
#include "storage/records.h"
#include "storage/session_chain.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

namespace execaudit::storage {

/// Insert a session, or update the columns the recorder owns (never attribution).
struct WriteSession {
    SessionRecord record;
};
struct WriteCommand {
    CommandRecord record;
};
struct WriteChunk {
    ChunkRecord record;
};
/// Raw audit stages (duplicates ignored), and optionally where the log tail now stands.
struct WriteAuditStages {
    std::vector<AuditStageRecord> stages;
    std::optional<LogCursorRecord> cursor;
};
/// Insert or update a request and its correlation state.
struct WriteExecRequest {
    ExecRequestRecord record;
};
/// A session's attribution: who asked (or that nobody did), and the candidates when ambiguous.
struct WriteAttribution {
    std::string session_id;
    std::string attribution;  ///< pending | audit | admission | ambiguous | unattributed
    std::optional<std::string> request_id;
    std::string audit_id;
    std::optional<RequesterRecord> requester;
    bool verified = true;
    bool prefix_matched = false;
    std::optional<std::string> entered_via;  ///< attach / debug once a tty-init session is confirmed
    std::vector<std::string> candidates;
};
/// Calls back (on the writer thread) once everything submitted before it is committed:
/// "durably stored" for the audit webhook's 200.
struct WriteBarrier {
    std::function<void()> on_committed;
};
/// Stores the chain head of every session that ended without one (closed as interrupted after
/// a crash, by another connection): submit it after closing them.
struct WriteSealEnded {};
using WriteOp = std::variant<WriteSession, WriteCommand, WriteChunk, WriteAuditStages, WriteExecRequest, WriteAttribution,
                             WriteBarrier, WriteSealEnded>;

/// Where attribution's records go (attribution/attribution.h): the node's StoreWriter, or the
/// collector's PostgreSQL sink (collector/pg_sink.h).
class WriteSink {
public:
    virtual ~WriteSink() = default;
    virtual void submit(WriteOp op) = 0;
};

class StoreWriter final : public WriteSink {
public:
    struct Options {
        size_t max_queued_bytes = 32u << 20;  ///< submit() blocks beyond this
        /// Terminal chunks are compressed at zstd_level, except while more than
        /// fast_above_bytes_per_s of them arrive (a flood): then at zstd_fast_level, so the
        /// node's workloads keep the CPU. No interactive session comes near that rate.
        int zstd_level = 1;
        int zstd_fast_level = -7;
        double fast_above_bytes_per_s = 8e6;
        /// The writer thread's nice value: persisting yields the CPU to the node's workloads,
        /// and catches up in the gaps they leave (the queue and the kernel ring absorb a burst).
        int nice = 10;
        /// Group commit: while little is queued, wait until this long after the previous commit,
        /// so a trickle of records (a loop of commands) shares transactions instead of paying one
        /// each. A full batch, flush() or stop() commits at once.
        std::chrono::milliseconds commit_interval{50};
        size_t commit_at_once_bytes = 1u << 20;
        /// A full queue blocks submit() only while commits keep completing: once none has for
        /// this long (a stalled disk), chunks and commands are dropped and counted instead.
        std::chrono::milliseconds stall_patience{3000};
        /// stop() retries a failing commit this long, then gives up on what is queued (counted in
        /// the log: the database cannot take it).
        std::chrono::milliseconds stop_patience{2000};
        /// Signs every session head (`record --signing-key`); none: heads are stored unsigned.
        std::shared_ptr<const HeadSigner> signer;
    };
    struct Stats {
        uint64_t ops = 0;
        uint64_t transactions = 0;
        uint64_t chunk_raw_bytes = 0;
        uint64_t chunk_stored_bytes = 0;
        uint64_t failed_commits = 0;
        bool failing = false;  ///< the latest commit failed (it is being retried): not writable now
        uint64_t dropped_chunks = 0;    ///< terminal chunks not stored (database unwritable, queue full)
        uint64_t dropped_commands = 0;  ///< commands not stored (the same)
        uint64_t dropped_bytes = 0;     ///< terminal bytes in those chunks
        uint64_t dropped_other = 0;     ///< small records beyond the queue's hard limit
        uint64_t gaps_written = 0;      ///< gap records stored for what was dropped
        size_t queued_bytes = 0;
    };

    StoreWriter(Database db, Options options);
    ~StoreWriter();
    StoreWriter(const StoreWriter&) = delete;
    StoreWriter& operator=(const StoreWriter&) = delete;

    /// Queues one write. Blocks while the queue holds more than max_queued_bytes.
    void submit(WriteOp op) override;
    /// Returns once everything submitted before the call is committed.
    void flush();
    /// Flushes, then stops the thread. Idempotent. While the database cannot be written, gives up
    /// after Options::stop_patience (what stays queued is counted in the log). Returns false when
    /// the thread is stuck inside a system call past that (a hung disk): it is left behind, and
    /// the caller should exit the process.
    bool stop();
    Stats stats() const;

private:
    /// What a session lost to a database that could not be written: the gap not yet queued
    /// (chunks dropped since the last record that got in), and the totals for its row.
    struct SessionLoss {
        bool open = false;
        uint32_t gap_seq = 0;  ///< the gap takes the first dropped chunk's place
        uint64_t first_offset_us = 0, last_offset_us = 0;
        uint64_t events = 0, bytes = 0;
        uint64_t total_events = 0, total_bytes = 0;
    };
    /// Where a session's chain stands (the writer thread's; loaded from the database on first use).
    struct ChainState {
        bool legacy = false;  ///< recorded before chains existed: its records stay unchained
        uint64_t index = 0;   ///< records chained so far
        ChainHash hash{};
        bool sealed = false;      ///< ended: the head follows every change
        bool head_dirty = false;  ///< the head must be stored again before the commit
        bool ledgered = false;    ///< its `recorded` entry is in the session ledger
    };
    ChainState& chain_for(const std::string& session_id);
    void store_dirty_heads();
    /// Marks the heads of sessions that ended without one (interrupted by a crash) for storing; returns how many.
    size_t mark_unsealed_sessions();
    void seal_unsealed_sessions();

    void run();
    /// One transaction for the batch, retried while the database refuses it. False: given up (stopping).
    bool commit_batch(std::deque<WriteOp>& batch);
    void apply(WriteOp& op);
    static size_t cost(const WriteOp& op);
    // with mutex_ held:
    void drop(WriteOp& op);
    void queue_gap(const std::string& session_id, SessionLoss& loss);
    void queue_open_gaps();
    void push(WriteOp op, size_t cost);

    Database db_;
    Options options_;
    ZstdCompressor compressor_;
    int compression_level();
    std::chrono::steady_clock::time_point rate_window_start_ = std::chrono::steady_clock::now();
    uint64_t rate_window_bytes_ = 0;
    double chunk_bytes_per_s_ = 0;  ///< of the last full second
    Statement upsert_session_;
    Statement insert_command_;
    Statement insert_chunk_;
    Statement insert_audit_stage_;
    Statement upsert_log_cursor_;
    Statement upsert_request_;
    Statement update_attribution_;
    Statement delete_candidates_;
    Statement insert_candidate_;
    Statement set_chain_start_;
    Statement set_head_;
    std::unordered_map<std::string, ChainState> chains_;  ///< writer thread only

    mutable std::mutex mutex_;
    std::condition_variable wake_writer_;
    std::condition_variable wake_producers_;
    std::deque<WriteOp> queue_;
    size_t queued_bytes_ = 0;
    uint64_t submitted_ = 0;
    uint64_t committed_ = 0;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point stop_requested_;
    bool thread_done_ = false;
    std::condition_variable thread_finished_;
    std::unordered_map<std::string, SessionLoss> losses_;  ///< only sessions that lost something
    std::unordered_map<std::string, size_t> queued_session_;  ///< index in queue_ of a session's waiting row
    bool drop_logged_ = false;  ///< this failure's first drop is logged, the rest counted
    uint64_t episode_dropped_ = 0, episode_dropped_bytes_ = 0;
    std::chrono::steady_clock::time_point failing_since_;
    bool writer_idle_ = false;  ///< waiting for work: the only time a submit needs to wake it
    uint64_t flush_target_ = 0;  ///< a flush() waits for this many ops: commit without delay
    Stats stats_;
    std::thread thread_;
};


}  // namespace execaudit::storage
