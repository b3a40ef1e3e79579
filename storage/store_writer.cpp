#include "storage/store_writer.h"

#include "common/log.h"
#include "common/text.h"
#include "common/time_format.h"
#include "storage/compression.h"
#include "storage/io_frames.h"
#include "storage/request_store.h"
#include "storage/session_ledger.h"
#include "storage/session_store.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace execaudit::storage {
namespace {

std::string join_nul(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) {
        out += p;
        out += '\0';
    }
    return out;
}

std::vector<std::string> lossy_all(const std::vector<std::string>& parts) {
    std::vector<std::string> out;
    out.reserve(parts.size());
    for (const auto& p : parts) out.push_back(utf8_lossy(p));
    return out;
}

constexpr const char* kUpsertSession = R"sql(
INSERT INTO sessions (id, node, namespace, pod, pod_uid, container, container_id, cgroup_id, cgroup_path,
    leader_pid, leader_start_ns, boot_id, tty, command, command_text, start_ns, start_boot_ns, end_ns, status,
    exit_code, exit_signal, commands, output_bytes, input_bytes, lost_bytes, lost_events, rows, cols,
    entered_via, start_lost, last_activity_ns, kernel_session_id, kubelet_check, pod_labels, pod_labels_dropped,
    owner_kind, owner_name, workload_kind, workload_name, service_account, cluster)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
    ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37, ?38, ?39, ?40, ?41)
ON CONFLICT (id) DO UPDATE SET
    namespace = excluded.namespace, pod = excluded.pod, pod_uid = excluded.pod_uid,
    container = excluded.container, container_id = excluded.container_id, cgroup_path = excluded.cgroup_path,
    tty = excluded.tty, command = excluded.command, command_text = excluded.command_text,
    end_ns = excluded.end_ns, status = excluded.status, exit_code = excluded.exit_code,
    exit_signal = excluded.exit_signal, commands = excluded.commands, output_bytes = excluded.output_bytes,
    input_bytes = excluded.input_bytes, lost_bytes = excluded.lost_bytes, lost_events = excluded.lost_events,
    rows = excluded.rows, cols = excluded.cols, start_lost = excluded.start_lost,
    last_activity_ns = excluded.last_activity_ns,
    kubelet_check = coalesce(sessions.kubelet_check, excluded.kubelet_check),
    -- what the pod was when the session started: once known, a later write without it keeps it
    pod_labels_dropped = CASE WHEN excluded.pod_labels IS NULL THEN pod_labels_dropped ELSE excluded.pod_labels_dropped END,
    owner_kind = CASE WHEN excluded.pod_labels IS NULL THEN owner_kind ELSE excluded.owner_kind END,
    owner_name = CASE WHEN excluded.pod_labels IS NULL THEN owner_name ELSE excluded.owner_name END,
    workload_kind = CASE WHEN excluded.pod_labels IS NULL THEN workload_kind ELSE excluded.workload_kind END,
    workload_name = CASE WHEN excluded.pod_labels IS NULL THEN workload_name ELSE excluded.workload_name END,
    service_account = CASE WHEN excluded.pod_labels IS NULL THEN service_account ELSE excluded.service_account END,
    pod_labels = coalesce(excluded.pod_labels, pod_labels),
    cluster = coalesce(excluded.cluster, cluster)
)sql";

constexpr const char* kInsertCommand = R"sql(
INSERT OR REPLACE INTO commands (session_id, seq, time_ns, boot_ns, pid, ppid, ns_pid, uid, gid, filename, argv,
    argv_text, retval, argv_truncated, exe_path, exe_ino, exe_dev, exe_fileless, chain_index, chain_hash)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
)sql";

constexpr const char* kInsertChunk = R"sql(
INSERT OR REPLACE INTO io_chunks (session_id, seq, first_offset_us, last_offset_us, frames, output_bytes,
    input_bytes, encoding, raw_size, data, chain_index, chain_hash)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
)sql";

constexpr const char* kInsertAuditStage = R"sql(
INSERT OR IGNORE INTO audit_events (request_id, audit_id, stage, source, received_ns, stage_ns, ingested_ns, raw_json)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
)sql";

constexpr const char* kUpsertLogCursor = R"sql(
INSERT INTO audit_log_cursor (path, inode, offset, updated_ns) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (path) DO UPDATE SET inode = excluded.inode, offset = excluded.offset, updated_ns = excluded.updated_ns
)sql";

constexpr const char* kUpsertRequest = R"sql(
INSERT INTO exec_requests (id, source, kind, verb, namespace, pod, container, command, command_text, tty, stdin, user,
    user_uid, groups_json, user_extra_json, impersonated_user, impersonated_groups_json, source_ips_json, user_agent,
    authz_decision, authz_reason, response_code, response_message, received_ns, started_ns, completed_ns, state,
    session_id, updated_ns, audit_id, verified, command_lp)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24,
    ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32)
ON CONFLICT (id) DO UPDATE SET verb = excluded.verb, namespace = excluded.namespace, pod = excluded.pod,
    container = excluded.container, command = excluded.command, command_text = excluded.command_text,
    tty = excluded.tty, stdin = excluded.stdin, user = excluded.user, user_uid = excluded.user_uid,
    groups_json = excluded.groups_json, user_extra_json = excluded.user_extra_json,
    impersonated_user = excluded.impersonated_user, impersonated_groups_json = excluded.impersonated_groups_json,
    source_ips_json = excluded.source_ips_json, user_agent = excluded.user_agent,
    authz_decision = excluded.authz_decision, authz_reason = excluded.authz_reason,
    response_code = excluded.response_code, response_message = excluded.response_message,
    received_ns = excluded.received_ns, started_ns = excluded.started_ns, completed_ns = excluded.completed_ns,
    state = excluded.state, session_id = excluded.session_id, updated_ns = excluded.updated_ns,
    command_lp = excluded.command_lp
)sql";

constexpr const char* kUpdateAttribution = R"sql(
UPDATE sessions SET attribution = ?2, user = ?3, groups_json = ?4, source_ips_json = ?5, user_agent = ?6,
    audit_id = ?7, request_id = ?8, user_verified = ?9, argv_prefix_matched = ?10,
    entered_via = coalesce(?11, entered_via) WHERE id = ?1
)sql";

/// ?first..?first+7: pod_labels, pod_labels_dropped, owner_kind, owner_name, workload_kind,
/// workload_name, service_account, cluster; NULL where not known.
void bind_pod_metadata(Statement& st, int first, const SessionRecord& r) {
    auto some = [](const std::string& v) { return v.empty() ? std::nullopt : std::optional<std::string>(v); };
    if (const auto& m = r.pod_meta) {
        st.bind(first, m->labels_json).bind(first + 1, int64_t{m->labels_dropped});
        st.bind(first + 2, some(m->owner_kind)).bind(first + 3, some(m->owner_name));
        st.bind(first + 4, some(m->workload_kind)).bind(first + 5, some(m->workload_name));
        st.bind(first + 6, some(m->service_account));
    } else {
        st.bind_null(first).bind(first + 1, int64_t{0});
        for (int i = 2; i <= 6; ++i) st.bind_null(first + i);
    }
    st.bind(first + 7, r.cluster);
}

}  // namespace

StoreWriter::StoreWriter(Database db, Options options)
    : db_(std::move(db)),
      options_(options),

      upsert_session_(db_.prepare(kUpsertSession)),
      insert_command_(db_.prepare(kInsertCommand)),
      insert_chunk_(db_.prepare(kInsertChunk)),
      insert_audit_stage_(db_.prepare(kInsertAuditStage)),
      upsert_log_cursor_(db_.prepare(kUpsertLogCursor)),
      upsert_request_(db_.prepare(kUpsertRequest)),
      update_attribution_(db_.prepare(kUpdateAttribution)),
      delete_candidates_(db_.prepare("DELETE FROM session_candidates WHERE session_id = ?1")),
      insert_candidate_(db_.prepare("INSERT OR IGNORE INTO session_candidates (session_id, request_id) VALUES (?1, ?2)")),
      set_chain_start_(db_.prepare("UPDATE sessions SET chain_start = ?2 WHERE id = ?1 AND chain_start IS NULL")),
      set_head_(db_.prepare(
          "UPDATE sessions SET chain_head = ?2, chain_records = ?3, head_signature = ?4, signing_key = ?5 WHERE id = ?1")) {
    seal_unsealed_sessions();
    try {
        if (size_t n = backfill_ledger(db_, options_.signer.get()))
            log::info("entered {} sessions recorded before the session ledger into it", n);
    } catch (const std::exception& e) {
        log::warn("cannot enter the older sessions into the session ledger now: {}", e.what());
    }
    thread_ = std::thread([this] { run(); });
}

StoreWriter::~StoreWriter() { stop(); }

size_t StoreWriter::cost(const WriteOp& op) {
    if (const auto* c = std::get_if<WriteChunk>(&op)) return c->record.frames_data.size() + 256;
    if (const auto* a = std::get_if<WriteAuditStages>(&op)) {
        size_t n = 256;
        for (const auto& st : a->stages) n += st.raw_json.size() + 128;
        return n;
    }
    return 512;
}

namespace {

const std::string* session_of(const WriteOp& op) {
    if (const auto* c = std::get_if<WriteChunk>(&op)) return &c->record.session_id;
    if (const auto* m = std::get_if<WriteCommand>(&op)) return &m->record.session_id;
    if (const auto* s = std::get_if<WriteSession>(&op)) return &s->record.id;
    return nullptr;
}

}  // namespace

void StoreWriter::submit(WriteOp op) {
    size_t c = cost(op);
    std::unique_lock lock(mutex_);
    if (auto* s = std::get_if<WriteSession>(&op)) {
        // the row says what the session lost here too, not only what the kernel lost
        if (auto l = losses_.find(s->record.id); l != losses_.end()) {
            s->record.lost_events += l->second.total_events;
            s->record.lost_bytes += l->second.total_bytes;
        }
        // While the database refuses writes, a session's row waits once: its newer state takes the
        // older one's place (an end never moves before the records that came ahead of it).
        if (auto q = queued_session_.find(s->record.id); q != queued_session_.end() && stats_.failing) {
            auto& queued = std::get<WriteSession>(queue_[q->second]).record;
            if ((queued.status == "open") == (s->record.status == "open")) {
                queue_[q->second] = std::move(op);
                return;
            }
        }
    }
    bool droppable = std::holds_alternative<WriteChunk>(op) || std::holds_alternative<WriteCommand>(op);
    auto full = [&] { return queued_bytes_ + c > options_.max_queued_bytes && !queue_.empty(); };
    if (droppable) {
        // Block while the writer makes progress (pressure backs up into the kernel's ring, where
        // loss is counted); never while the database refuses writes or stalls.
        uint64_t seen = committed_;
        auto deadline = std::chrono::steady_clock::now() + options_.stall_patience;
        while (full() && !stopping_ && !stats_.failing) {
            if (wake_producers_.wait_until(lock, deadline) == std::cv_status::timeout) {
                if (committed_ == seen) break;  // no commit for stall_patience: the disk hangs
                seen = committed_;
                deadline = std::chrono::steady_clock::now() + options_.stall_patience;
            }
        }
        if (full()) return drop(op);
    } else if (queued_bytes_ + c > 4 * options_.max_queued_bytes) {
        if (stats_.dropped_other++ == 0)
            log::error("database writer: its queue is at its hard limit ({} MiB): small records (requests, audit stages) "
                       "are dropped and counted (execaudit_store_dropped_other_total)",
                       4 * options_.max_queued_bytes >> 20);
        return;
    }
    if (const std::string* id = session_of(op)) {
        // what this session lost goes in before its next record
        if (auto l = losses_.find(*id); l != losses_.end() && l->second.open) queue_gap(*id, l->second);
    }
    push(std::move(op), c);
}

void StoreWriter::push(WriteOp op, size_t c) {
    if (const auto* s = std::get_if<WriteSession>(&op)) queued_session_[s->record.id] = queue_.size();
    queued_bytes_ += c;
    queue_.push_back(std::move(op));
    ++submitted_;
    // An idle writer needs waking; one waiting for company needs it only once the batch is big.
    if (writer_idle_ && (queue_.size() == 1 || queued_bytes_ >= options_.commit_at_once_bytes)) wake_writer_.notify_one();
}

void StoreWriter::drop(WriteOp& op) {
    if (auto* k = std::get_if<WriteChunk>(&op)) {
        const ChunkRecord& r = k->record;
        SessionLoss& l = losses_[r.session_id];
        if (!l.open) {
            l = SessionLoss{.open = true, .gap_seq = r.seq, .first_offset_us = r.first_offset_us,
                            .last_offset_us = r.last_offset_us, .total_events = l.total_events, .total_bytes = l.total_bytes};
        }
        l.last_offset_us = std::max(l.last_offset_us, r.last_offset_us);
        uint64_t bytes = r.output_bytes + r.input_bytes;
        l.events += r.frames;
        l.bytes += bytes;
        l.total_events += r.frames;
        l.total_bytes += bytes;
        ++stats_.dropped_chunks;
        stats_.dropped_bytes += bytes;
        episode_dropped_bytes_ += bytes;
    } else if (auto* m = std::get_if<WriteCommand>(&op)) {
        SessionLoss& l = losses_[m->record.session_id];
        ++l.total_events;
        if (l.open) ++l.events;
        ++stats_.dropped_commands;
    }
    ++episode_dropped_;
    if (!drop_logged_) {
        drop_logged_ = true;
        log::error("database writer: the database cannot be written and its queue is full ({} MiB): terminal data and "
                   "commands are dropped from now on, counted per session (lost_bytes, lost_events) and stored as gaps "
                   "once it can be written again",
                   options_.max_queued_bytes >> 20);
    }
}

void StoreWriter::queue_gap(const std::string& session_id, SessionLoss& loss) {
    ChunkEncoder gap;
    gap.add_gap(loss.first_offset_us, loss.events, loss.bytes, GapCause::store);
    ChunkRecord r;
    r.session_id = session_id;
    r.seq = loss.gap_seq;  // the first dropped chunk's place: the stream stays in order
    r.first_offset_us = loss.first_offset_us;
    r.last_offset_us = loss.last_offset_us;
    r.frames = gap.frames();
    r.frames_data = gap.take();
    loss.open = false;
    ++stats_.gaps_written;
    WriteOp op = WriteChunk{std::move(r)};
    size_t c = cost(op);
    push(std::move(op), c);
}

void StoreWriter::queue_open_gaps() {
    for (auto& [id, loss] : losses_)
        if (loss.open) queue_gap(id, loss);
}

void StoreWriter::flush() {
    std::unique_lock lock(mutex_);
    uint64_t target = submitted_;
    flush_target_ = std::max(flush_target_, target);
    wake_writer_.notify_one();  // cut a group-commit wait short
    wake_producers_.wait(lock, [&] { return committed_ >= target || thread_done_; });
}

bool StoreWriter::stop() {
    std::unique_lock lock(mutex_);
    if (!thread_.joinable()) return true;
    if (!stopping_) {
        stopping_ = true;
        stop_requested_ = std::chrono::steady_clock::now();
    }
    wake_writer_.notify_all();
    wake_producers_.notify_all();
    // A full disk fails fast and is given up on after stop_patience; a write that never returns
    // (a hung disk) keeps the thread in the kernel, and then waiting longer helps nobody.
    bool done = thread_finished_.wait_for(lock, options_.stop_patience + std::chrono::seconds(3), [&] { return thread_done_; });
    lock.unlock();
    if (!done) {
        log::error("database writer: still inside a write {} s after the stop: leaving it behind (what it holds is lost)",
                   std::chrono::duration_cast<std::chrono::seconds>(options_.stop_patience).count() + 3);
        thread_.detach();
        return false;
    }
    thread_.join();
    wake_producers_.notify_all();
    return true;
}

StoreWriter::Stats StoreWriter::stats() const {
    std::lock_guard lock(mutex_);
    Stats s = stats_;
    s.queued_bytes = queued_bytes_;
    return s;
}

void StoreWriter::run() {
    // Linux nice values are per thread: this lowers the writer alone.
    if (options_.nice && setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), options_.nice) != 0)
        log::warn("database writer: cannot lower its priority: {}", std::strerror(errno));
    std::deque<WriteOp> batch;
    auto last_commit = std::chrono::steady_clock::now() - options_.commit_interval;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            writer_idle_ = true;
            wake_writer_.wait(lock, [&] { return !queue_.empty() || stopping_; });
            // Group commit: a trickle waits for company, a flood or a flush does not.
            wake_writer_.wait_until(lock, last_commit + options_.commit_interval, [&] {
                return stopping_ || queued_bytes_ >= options_.commit_at_once_bytes || flush_target_ > committed_;
            });
            writer_idle_ = false;
            if (queue_.empty() && stopping_) break;
            batch.swap(queue_);
            queued_session_.clear();
        }
        size_t batch_cost = 0;
        for (const auto& op : batch) batch_cost += cost(op);

        bool stored = commit_batch(batch);
        last_commit = std::chrono::steady_clock::now();
        // Barriers fire after the commit that made everything before them durable.
        if (stored)
            for (auto& op : batch)
                if (auto* b = std::get_if<WriteBarrier>(&op); b && b->on_committed) b->on_committed();

        std::lock_guard lock(mutex_);
        committed_ += batch.size();
        queued_bytes_ -= batch_cost;
        if (stored) {
            stats_.ops += batch.size();
            ++stats_.transactions;
            if (stats_.failing) {
                double down_s = std::chrono::duration<double>(last_commit - failing_since_).count();
                log::info("database writer: the database takes writes again after {:.1f} s; {} chunks and commands ({} "
                          "terminal bytes) were dropped meanwhile and are stored as gaps",
                          down_s, episode_dropped_, episode_dropped_bytes_);
                episode_dropped_ = episode_dropped_bytes_ = 0;
                drop_logged_ = false;
            }
            stats_.failing = false;
            queue_open_gaps();  // sessions that have been quiet since their loss
        }
        batch.clear();
        wake_producers_.notify_all();
    }
    std::lock_guard lock(mutex_);
    thread_done_ = true;
    thread_finished_.notify_all();
    wake_producers_.notify_all();
}

bool StoreWriter::commit_batch(std::deque<WriteOp>& batch) {
    // A failed commit (disk full, read-only, locked file) is retried with the same batch; what
    // arrives meanwhile waits in the queue, and past it is dropped and counted (submit()).
    for (int attempt = 0;; ++attempt) {
        std::string error;
        auto chains_before = chains_;  // a rolled-back transaction leaves the chains where they were
        try {
            Transaction tx(db_);
            for (auto& op : batch) apply(op);
            store_dirty_heads();
            tx.commit();
            std::erase_if(chains_, [](const auto& c) { return c.second.sealed; });  // reloaded if anything follows
            return true;
        } catch (const std::exception& e) {
            error = e.what();
            chains_ = std::move(chains_before);
        }
        std::unique_lock lock(mutex_);
        ++stats_.failed_commits;
        if (!stats_.failing) {
            // once per failure, not once per retry: the metrics count the retries
            stats_.failing = true;
            failing_since_ = std::chrono::steady_clock::now();
            log::error("database writer: a commit failed: {}; retrying until it succeeds, with {} records waiting and up "
                       "to {} MiB more queued, past which terminal data and commands are dropped and counted",
                       error, batch.size(), options_.max_queued_bytes >> 20);
        }
        if (stopping_ && std::chrono::steady_clock::now() >= stop_requested_ + options_.stop_patience) {
            size_t chunks = 0, bytes = 0;
            for (const auto& op : batch)
                if (const auto* k = std::get_if<WriteChunk>(&op)) ++chunks, bytes += k->record.frames_data.size();
            log::error("database writer: stopping, and the database still refuses writes ({}): {} records are not stored "
                       "({} terminal chunks, {} bytes); sessions left open are marked interrupted at the next start",
                       error, batch.size(), chunks, bytes);
            return false;
        }
        auto backoff = std::chrono::milliseconds(std::min(100 << std::min(attempt, 5), 2000));
        if (stopping_) backoff = std::min(backoff, std::chrono::milliseconds(200));
        bool was_stopping = stopping_;
        wake_writer_.wait_for(lock, backoff, [&] { return stopping_ && !was_stopping; });
    }
}

void StoreWriter::apply(WriteOp& op) {
    if (auto* s = std::get_if<WriteSession>(&op)) {
        const SessionRecord& r = s->record;
        auto& st = upsert_session_;
        st.bind(1, r.id).bind(2, r.node).bind(3, r.namespace_name).bind(4, r.pod).bind(5, r.pod_uid);
        st.bind(6, r.container).bind(7, r.container_id).bind(8, static_cast<int64_t>(r.cgroup_id));
        st.bind(9, r.cgroup_path).bind(10, static_cast<int64_t>(r.leader_pid));
        st.bind(11, static_cast<int64_t>(r.leader_start_ns)).bind(12, r.boot_id).bind(13, int64_t{r.tty});
        st.bind_blob(14, join_nul(r.command)).bind(15, join_argv(lossy_all(r.command)));
        st.bind(16, r.start_ns).bind(17, static_cast<int64_t>(r.start_boot_ns)).bind(18, r.end_ns);
        st.bind(19, r.status);
        st.bind(20, r.exit_code ? std::optional<int64_t>(*r.exit_code) : std::nullopt);
        st.bind(21, r.exit_signal ? std::optional<int64_t>(*r.exit_signal) : std::nullopt);
        st.bind(22, static_cast<int64_t>(r.commands)).bind(23, static_cast<int64_t>(r.output_bytes));
        st.bind(24, static_cast<int64_t>(r.input_bytes)).bind(25, static_cast<int64_t>(r.lost_bytes));
        st.bind(26, static_cast<int64_t>(r.lost_events)).bind(27, static_cast<int64_t>(r.rows));
        st.bind(28, static_cast<int64_t>(r.cols)).bind(29, r.entered_via).bind(30, int64_t{r.start_lost});
        st.bind(31, r.last_activity_ns).bind(32, static_cast<int64_t>(r.kernel_session_id));
        st.bind(33, r.kubelet ? std::optional<std::string>(kubelet_check_json(*r.kubelet)) : std::nullopt);
        bind_pod_metadata(st, 34, r);
        st.run();
        ChainState& chain = chain_for(r.id);
        if (!chain.legacy && chain.index == 0) {
            // record 0: what the start says, written once
            set_chain_start_.bind(1, r.id).bind_blob(2, to_bytes(chain.hash));
            set_chain_start_.run();
        }
        if (!chain.ledgered) {
            ledger_session(db_, r.id, options_.signer.get());  // in the transaction that first stores it
            chain.ledgered = true;
        }
        if (r.status != "open" && !chain.legacy) chain.sealed = chain.head_dirty = true;
    } else if (auto* c = std::get_if<WriteCommand>(&op)) {
        const CommandRecord& r = c->record;
        auto& st = insert_command_;
        st.bind(1, r.session_id).bind(2, static_cast<int64_t>(r.seq)).bind(3, r.time_ns);
        st.bind(4, static_cast<int64_t>(r.boot_ns)).bind(5, static_cast<int64_t>(r.pid));
        st.bind(6, static_cast<int64_t>(r.ppid)).bind(7, static_cast<int64_t>(r.ns_pid));
        st.bind(8, static_cast<int64_t>(r.uid)).bind(9, static_cast<int64_t>(r.gid));
        st.bind_blob(10, r.filename).bind_blob(11, join_nul(r.argv)).bind(12, join_argv(lossy_all(r.argv)));
        st.bind(13, r.retval ? std::optional<int64_t>(*r.retval) : std::nullopt);
        st.bind(14, int64_t{r.argv_truncated});
        st.bind_blob(15, r.exe_path).bind(16, static_cast<int64_t>(r.exe_ino)).bind(17, static_cast<int64_t>(r.exe_dev));
        st.bind(18, int64_t{r.exe_fileless});
        ChainState& chain = chain_for(r.session_id);
        if (chain.legacy) {
            st.bind_null(19).bind_null(20);
        } else {
            chain.hash = chain_command(chain.hash, r);
            st.bind(19, static_cast<int64_t>(++chain.index)).bind_blob(20, to_bytes(chain.hash));
            chain.head_dirty |= chain.sealed;
        }
        st.run();
    } else if (auto* k = std::get_if<WriteChunk>(&op)) {
        const ChunkRecord& r = k->record;
        rate_window_bytes_ += r.frames_data.size();
        auto packed = compressor_.compress(r.frames_data, compression_level());
        bool compressed = packed.has_value();
        auto& st = insert_chunk_;
        st.bind(1, r.session_id).bind(2, static_cast<int64_t>(r.seq));
        st.bind(3, static_cast<int64_t>(r.first_offset_us)).bind(4, static_cast<int64_t>(r.last_offset_us));
        st.bind(5, static_cast<int64_t>(r.frames)).bind(6, static_cast<int64_t>(r.output_bytes));
        st.bind(7, static_cast<int64_t>(r.input_bytes)).bind(8, int64_t{compressed ? 1 : 0});
        st.bind(9, static_cast<int64_t>(r.frames_data.size()));
        st.bind_blob(10, compressed ? *packed : std::string_view(r.frames_data));
        ChainState& chain = chain_for(r.session_id);
        if (chain.legacy) {
            st.bind_null(11).bind_null(12);
        } else {
            chain.hash = chain_chunk(chain.hash, r);
            st.bind(11, static_cast<int64_t>(++chain.index)).bind_blob(12, to_bytes(chain.hash));
            chain.head_dirty |= chain.sealed;
        }
        st.run();
        std::lock_guard lock(mutex_);
        stats_.chunk_raw_bytes += r.frames_data.size();
        stats_.chunk_stored_bytes += compressed ? packed->size() : r.frames_data.size();
    } else if (auto* a = std::get_if<WriteAuditStages>(&op)) {
        for (const auto& r : a->stages) {
            auto& st = insert_audit_stage_;
            st.bind(1, r.request_id.empty() ? r.audit_id : r.request_id).bind(2, r.audit_id).bind(3, r.stage).bind(4, r.source);
            st.bind(5, r.received_ns).bind(6, r.stage_ns).bind(7, r.ingested_ns).bind(8, r.raw_json);
            st.run();
        }
        if (a->cursor) {
            auto& st = upsert_log_cursor_;
            st.bind(1, a->cursor->path).bind(2, static_cast<int64_t>(a->cursor->inode));
            st.bind(3, static_cast<int64_t>(a->cursor->offset)).bind(4, wall_clock_ns());
            st.run();
        }
    } else if (auto* q = std::get_if<WriteExecRequest>(&op)) {
        const ExecRequestRecord& r = q->record;
        const RequesterRecord& who = r.requester;
        auto& st = upsert_request_;
        st.bind(1, r.id).bind(2, r.source).bind(3, r.kind).bind(4, r.verb).bind(5, r.namespace_name).bind(6, r.pod);
        st.bind(7, r.container).bind_blob(8, join_nul(r.command)).bind(9, join_argv(lossy_all(r.command)));
        st.bind(10, int64_t{r.tty}).bind(11, int64_t{r.stdin}).bind(12, who.user).bind(13, who.user_uid);
        st.bind(14, who.groups_json).bind(15, who.user_extra_json).bind(16, who.impersonated_user);
        st.bind(17, who.impersonated_groups_json).bind(18, who.source_ips_json).bind(19, who.user_agent);
        st.bind(20, who.authz_decision).bind(21, who.authz_reason).bind(22, int64_t{r.response_code});
        st.bind(23, r.response_message).bind(24, r.received_ns).bind(25, r.started_ns).bind(26, r.completed_ns);
        st.bind(27, r.state).bind(28, r.session_id).bind(29, r.updated_ns);
        st.bind(30, r.audit_id.empty() ? r.id : r.audit_id).bind(31, int64_t{r.verified}).bind_blob(32, pack_argv(r.command));
        st.run();
    } else if (std::holds_alternative<WriteSealEnded>(op)) {
        mark_unsealed_sessions();  // stored with the other heads before this transaction commits
    } else if (auto* t = std::get_if<WriteAttribution>(&op)) {
        auto& st = update_attribution_;
        st.bind(1, t->session_id).bind(2, t->attribution);
        if (t->requester) {
            st.bind(3, t->requester->user).bind(4, t->requester->groups_json).bind(5, t->requester->source_ips_json);
            st.bind(6, t->requester->user_agent);
        } else {
            st.bind_null(3).bind(4, std::string_view("[]")).bind(5, std::string_view("[]")).bind(6, std::string_view(""));
        }
        st.bind(7, std::string_view(t->audit_id.empty() && t->request_id ? *t->request_id : t->audit_id));
        st.bind(8, std::string_view(t->request_id ? *t->request_id : std::string()));
        st.bind(9, int64_t{t->verified}).bind(10, int64_t{t->prefix_matched}).bind(11, t->entered_via);
        st.run();
        delete_candidates_.bind(1, t->session_id);
        delete_candidates_.run();
        for (const auto& c : t->candidates) {
            insert_candidate_.bind(1, t->session_id).bind(2, c);
            insert_candidate_.run();
        }
    }
}

StoreWriter::ChainState& StoreWriter::chain_for(const std::string& session_id) {
    if (auto it = chains_.find(session_id); it != chains_.end()) return it->second;
    ChainState c;
    auto row = db_.prepare("SELECT chain_start, chain_head IS NOT NULL, status <> 'open' FROM sessions WHERE id = ?1");
    row.bind(1, session_id);
    if (row.step()) {
        std::string start = row.column_blob(0);
        c.sealed = row.column_int(1) != 0 || row.column_int(2) != 0;
        if (!start.empty()) {
            from_bytes(start, c.hash);
            // continue after the newest record (a restarted recorder; a record after the end)
            auto last = db_.prepare(
                "SELECT chain_index, chain_hash FROM (SELECT chain_index, chain_hash FROM commands WHERE session_id = ?1 "
                "AND chain_index IS NOT NULL UNION ALL SELECT chain_index, chain_hash FROM io_chunks WHERE session_id = ?1 "
                "AND chain_index IS NOT NULL) ORDER BY chain_index DESC LIMIT 1");
            last.bind(1, session_id);
            if (last.step()) {
                c.index = static_cast<uint64_t>(last.column_int(0));
                from_bytes(last.column_blob(1), c.hash);
            }
        } else {
            auto any = db_.prepare("SELECT EXISTS (SELECT 1 FROM commands WHERE session_id = ?1) OR "
                                   "EXISTS (SELECT 1 FROM io_chunks WHERE session_id = ?1)");
            any.bind(1, session_id);
            any.step();
            c.legacy = any.column_int(0) != 0;  // records without a chain: it began before chains existed
            if (!c.legacy) {
                SessionStore store(db_);
                auto s = store.find(session_id);
                if (s) c.hash = chain_start(*s);
                else c.legacy = true;
            }
        }
    } else {
        c.legacy = true;  // a record of a session never stored: nothing to chain it to
    }
    return chains_.emplace(session_id, c).first->second;
}

void StoreWriter::store_dirty_heads() {
    SessionStore store(db_);
    for (auto& [id, chain] : chains_) {
        if (!chain.head_dirty) continue;
        // the end as it reads back, so every store's copy hashes the same
        auto s = store.find(id);
        if (!s) continue;
        std::string head = to_bytes(chain_head(chain.hash, *s, chain.index));
        auto& st = set_head_;
        st.bind(1, id).bind_blob(2, head).bind(3, static_cast<int64_t>(chain.index));
        if (options_.signer) {
            st.bind_blob(4, options_.signer->sign(head_message(id, head))).bind(5, options_.signer->key_id());
        } else {
            st.bind_null(4).bind(5, std::string_view(""));
        }
        st.run();
        chain.head_dirty = false;
    }
}

size_t StoreWriter::mark_unsealed_sessions() {
    std::vector<std::string> ids;
    auto q = db_.prepare("SELECT id FROM sessions WHERE status <> 'open' AND chain_start IS NOT NULL AND chain_head IS NULL");
    while (q.step()) ids.push_back(q.column_text(0));
    for (const auto& id : ids) chain_for(id).head_dirty = true;
    if (!ids.empty()) log::info("sealing the hash chains of {} sessions that ended without their recorder (interrupted)", ids.size());
    return ids.size();
}

void StoreWriter::seal_unsealed_sessions() {
    try {
        Transaction tx(db_);
        if (!mark_unsealed_sessions()) return;
        store_dirty_heads();
        tx.commit();
        chains_.clear();
    } catch (const std::exception& e) {
        chains_.clear();
        log::warn("cannot seal the hash chains of interrupted sessions now: {}", e.what());
    }
}

int StoreWriter::compression_level() {
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - rate_window_start_).count();
    if (elapsed >= 1.0) {
        chunk_bytes_per_s_ = static_cast<double>(rate_window_bytes_) / elapsed;
        rate_window_start_ = now;
        rate_window_bytes_ = 0;
    }
    bool flooding = chunk_bytes_per_s_ > options_.fast_above_bytes_per_s ||
                    static_cast<double>(rate_window_bytes_) > options_.fast_above_bytes_per_s;
    return flooding ? options_.zstd_fast_level : options_.zstd_level;
}


}  // namespace execaudit::storage
