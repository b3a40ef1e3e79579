#include "storage/retention.h"

#include "common/errors.h"
#include "common/log.h"
#include "common/text.h"
#include "common/time_format.h"
#include "storage/compression.h"
#include "storage/io_frames.h"
#include "storage/chain_verify.h"
#include "storage/session_chain.h"
#include "storage/session_ledger.h"
#include "storage/session_store.h"
#include "storage/tombstone_columns.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <limits>

namespace execaudit::storage {
namespace {

std::string mib(uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); }

}  // namespace

Retention::Retention(const std::string& db_path, RetentionPolicy policy, std::shared_ptr<const HeadSigner> signer,
                     Options options)
    : path_(db_path),
      db_(Database::open(db_path, Database::Mode::read_write)),
      policy_(std::move(policy)),
      signer_(std::move(signer)),
      options_(options) {
    auto av = db_.prepare("PRAGMA auto_vacuum");
    incremental_vacuum_ = av.step() && av.column_int(0) == 2;
}

Retention::~Retention() { stop(); }

void Retention::start() {
    if (!incremental_vacuum_)
        log::info("retention: {} was created before incremental vacuum: space freed by deletions is reused by new "
                  "recordings, but the file does not shrink (to shrink it once, with the recorder stopped: sqlite3 FILE "
                  "'PRAGMA auto_vacuum=INCREMENTAL; VACUUM')",
                  path_);
    thread_ = std::thread([this] {
        for (;;) {
            try {
                run_pass(wall_clock_ns());
            } catch (const std::exception& e) {
                log::warn("retention: the pass failed ({}); the next one retries", e.what());
            }
            std::unique_lock lock(mutex_);
            if (wake_.wait_for(lock, options_.interval, [&] { return stopping(); })) return;
        }
    });
}

void Retention::stop() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

Retention::Stats Retention::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void Retention::pause() {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, options_.pause, [&] { return stopping(); });
}

Retention::Size Retention::measure() {
    Size s;
    auto pragma = [&](const char* sql) {
        auto st = db_.prepare(sql);
        return st.step() ? static_cast<uint64_t>(st.column_int(0)) : 0;
    };
    uint64_t page = pragma("PRAGMA page_size"), pages = pragma("PRAGMA page_count"), free = pragma("PRAGMA freelist_count");
    s.used = (pages - std::min(free, pages)) * page;
    s.freelist = free * page;
    std::error_code ec;
    s.file = std::filesystem::file_size(path_, ec);
    if (ec) s.file = pages * page;
    std::string dir = std::filesystem::path(path_).parent_path().string();
    struct statvfs fs {};
    if (statvfs(dir.empty() ? "." : dir.c_str(), &fs) == 0) {
        s.fs_total = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
        s.fs_free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    }
    return s;
}

std::optional<int64_t> Retention::export_floor() {
    if (policy_.export_cursors.empty()) return std::nullopt;
    int64_t floor = std::numeric_limits<int64_t>::max();
    auto st = db_.prepare("SELECT position FROM export_cursor WHERE name = ?1");
    for (const auto& name : policy_.export_cursors) {
        st.bind(1, name);
        floor = std::min(floor, st.step() ? st.column_int(0) : int64_t{0});  // never exported: nothing confirmed
        st.reset();
    }
    return floor;
}

Retention::Pass Retention::run_pass(int64_t now_ns) {
    Pass pass;
    Size before = measure();
    pass.used_bytes_before = before.used;
    pass.file_bytes_before = before.file;

    // Deletions an earlier pass began (a stop, a crash) are finished first.
    std::vector<std::string> unfinished;
    {
        auto st = db_.prepare("SELECT t.session_id FROM session_tombstones t WHERE t.completed_ns IS NULL");
        while (st.step()) unfinished.push_back(st.column_text(0));
    }
    for (const auto& id : unfinished) {
        if (stopping()) break;
        if (finish_deletion(id, now_ns)) ++pass.finished;
    }

    if (options_.fold && !stopping()) fold_runs(now_ns, pass);

    // By age: ended sessions past their rule, oldest first.
    if (auto cutoff_at = age_cutoff(policy_, now_ns); cutoff_at && !stopping()) {
        int64_t cutoff = *cutoff_at;
        std::optional<int64_t> floor = export_floor();
        // keyset pages over (ended, id): a long list of kept sessions is read once per pass
        int64_t after_t = std::numeric_limits<int64_t>::min();
        std::string after_id;
        for (;;) {
            std::vector<RetentionCandidate> page;
            {
                auto st = db_.prepare(
                    "SELECT s.id, s.namespace, coalesce(s.end_ns, nullif(s.last_activity_ns, 0), s.start_ns) AS t, "
                    "EXISTS (SELECT 1 FROM session_holds h WHERE h.session_id = s.id), "
                    "coalesce((SELECT max(o.position) FROM export_outbox o WHERE o.session_id = s.id), 0), "
                    "EXISTS (SELECT 1 FROM upload_outbox u WHERE u.session_id = s.id) "
                    "FROM sessions s WHERE s.status <> 'open' AND t < ?1 AND (t > ?2 OR (t = ?2 AND s.id > ?3)) "
                    "AND NOT EXISTS (SELECT 1 FROM session_tombstones x WHERE x.session_id = s.id) "
                    "ORDER BY t, s.id LIMIT 500");
                st.bind(1, cutoff).bind(2, after_t).bind(3, after_id);
                while (st.step()) {
                    RetentionCandidate c{.id = st.column_text(0), .namespace_name = st.column_text(1), .ended_ns = st.column_int(2),
                                .held = st.column_int(3) != 0};
                    // and the collector has committed all of it (cluster mode: the upload spool is empty for it)
                    c.exported = (!floor || st.column_int(4) <= *floor) && st.column_int(5) == 0;
                    page.push_back(std::move(c));
                }
            }
            if (page.empty()) break;
            after_t = page.back().ended_ns;
            after_id = page.back().id;
            for (const auto& c : page) {
                if (stopping()) break;
                auto j = judge_by_age(policy_, c, now_ns);
                if (j.verdict == AgeVerdict::held) ++pass.held_kept;
                else if (j.verdict == AgeVerdict::unexported) ++pass.unexported_kept;
                else if (j.verdict == AgeVerdict::expired && delete_session(c.id, "age", j.rule.text, now_ns, pass))
                    ++pass.deleted_by_age;
            }
            if (stopping()) break;
        }
    }
    if (!stopping()) delete_by_size(now_ns, pass);
    if (!stopping()) reclaim();

    Size after = measure();
    pass.used_bytes_after = after.used;
    pass.file_bytes_after = after.file;
    if (pass.folded)
        log::debug("retention: folded {} kubelet probe/hook runs into earlier rows that count them", pass.folded);
    if (pass.deleted_by_age || pass.deleted_by_size || pass.finished)
        log::info("retention: deleted {} sessions past their rule and {} to stay within the size bounds ({} of terminal data); "
                  "the database holds {} in a file of {} (was {} in {}){}{}",
                  pass.deleted_by_age, pass.deleted_by_size, mib(pass.stored_bytes_deleted), mib(after.used), mib(after.file),
                  mib(before.used), mib(before.file),
                  pass.held_kept ? fmt::format("; {} past their rule kept by a legal hold", pass.held_kept) : "",
                  pass.unexported_kept ? fmt::format("; {} past their rule wait for an export destination", pass.unexported_kept)
                                       : "");
    std::lock_guard lock(mutex_);
    ++stats_.passes;
    stats_.deleted_by_age += pass.deleted_by_age;
    stats_.deleted_by_size += pass.deleted_by_size;
    stats_.folded += pass.folded;
    stats_.stored_bytes_deleted += pass.stored_bytes_deleted;
    stats_.held_kept = pass.held_kept;
    stats_.unexported_kept = pass.unexported_kept;
    stats_.used_bytes = after.used;
    stats_.file_bytes = after.file;
    stats_.size_unmet = pass.size_unmet;
    return pass;
}

void Retention::delete_by_size(int64_t now_ns, Pass& pass) {
    if (policy_.max_db_size.off() && policy_.min_free_space.off()) return;
    std::optional<int64_t> floor = export_floor();
    std::vector<std::string> by_size;
    for (;;) {
        if (stopping()) return;
        Size s = measure();
        uint64_t cap = policy_.max_db_size.off() ? 0 : policy_.max_db_size.resolve(s.fs_total);
        uint64_t keep_free = policy_.min_free_space.off() ? 0 : policy_.min_free_space.resolve(s.fs_total);
        std::string rule;
        if (cap && s.used > cap) rule = "max-db-size " + policy_.max_db_size.text;
        // pages on the freelist are free for the database's next writes
        else if (keep_free && s.fs_free + s.freelist < keep_free) rule = "min-free-space " + policy_.min_free_space.text;
        if (rule.empty()) {
            if (unmet_logged_) log::info("retention: the size bounds hold again");
            unmet_logged_ = false;
            break;
        }
        // the oldest ended session that may go
        auto st = db_.prepare(
            "SELECT s.id FROM sessions s WHERE s.status <> 'open' "
            "AND NOT EXISTS (SELECT 1 FROM session_holds h WHERE h.session_id = s.id) "
            "AND NOT EXISTS (SELECT 1 FROM session_tombstones x WHERE x.session_id = s.id) "
            "AND (?1 IS NULL OR coalesce((SELECT max(o.position) FROM export_outbox o WHERE o.session_id = s.id), 0) <= ?1) "
            "AND NOT EXISTS (SELECT 1 FROM upload_outbox u WHERE u.session_id = s.id) "
            "ORDER BY coalesce(s.end_ns, nullif(s.last_activity_ns, 0), s.start_ns), s.id LIMIT 1");
        st.bind(1, floor);
        if (!st.step()) {
            auto count = [&](const char* sql) {
                auto q = db_.prepare(sql);
                return q.step() ? q.column_int(0) : 0;
            };
            pass.size_unmet = true;
            pass.unmet = fmt::format("{} ({} used, {} free on its file system); nothing more may be deleted: {} sessions "
                                     "open, {} held{}",
                                     rule, mib(s.used), mib(s.fs_free), count("SELECT count(*) FROM sessions WHERE status = 'open'"),
                                     count("SELECT count(*) FROM session_holds"),
                                     floor ? ", the rest not yet confirmed by every export destination or the collector"
                                           : ", the rest not yet committed by the collector");
            if (!unmet_logged_) log::warn("retention: cannot satisfy {}", pass.unmet);
            unmet_logged_ = true;
            break;
        }
        std::string id = st.column_text(0);
        st.reset();
        if (!delete_session(id, "size", rule, now_ns, pass)) break;  // changed under us: the next pass looks again
        ++pass.deleted_by_size;
        by_size.push_back(id);
        reclaim();
    }
    if (!by_size.empty())
        log::warn("retention: deleted {} sessions before their retention period ended, oldest first, to stay within the "
                  "size bounds (each is a tombstone with cause `size`; `execaudit report` lists them): {}{}",
                  by_size.size(), fmt::join(by_size.begin(), by_size.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(by_size.size(), 10)), ", "),
                  by_size.size() > 10 ? ", ..." : "");
}

bool Retention::write_tombstone(const std::string& id, const std::string& cause, const std::string& rule, int64_t now_ns,
                                uint64_t& stored) {
    auto st = db_.prepare(
        "SELECT s.node, s.namespace, s.pod, s.container, s.user, s.attribution, s.status, s.start_ns, s.end_ns, s.commands, "
        "s.output_bytes, s.lost_bytes, coalesce(s.chain_head, x''), s.chain_records, coalesce(s.head_signature, x''), "
        "s.signing_key, EXISTS (SELECT 1 FROM session_holds h WHERE h.session_id = s.id), "
        "EXISTS (SELECT 1 FROM session_tombstones x WHERE x.session_id = s.id), "
        "(SELECT coalesce(sum(length(k.data)), 0) FROM io_chunks k WHERE k.session_id = s.id) "
        "FROM sessions s WHERE s.id = ?1");
    st.bind(1, id);
    // re-checked inside the transaction: a hold (or an end) may have come since it was chosen
    if (!st.step() || st.column_text(6) == "open" || st.column_int(16) != 0 || st.column_int(17) != 0) return false;
    TombstoneRecord t;
    t.session_id = id;
    RowColumns subject(st);
    read_tombstone_subject(subject, t);
    t.stored_bytes = static_cast<uint64_t>(st.column_int(18));
    t.cause = cause;
    t.rule = rule;
    t.deleted_ns = now_ns;
    st.reset();
    auto ins = db_.prepare(
        "INSERT INTO session_tombstones (session_id, node, namespace, pod, container, user, attribution, status, start_ns, "
        "end_ns, commands, output_bytes, lost_bytes, chain_head, chain_records, head_signature, signing_key, cause, rule, "
        "deleted_ns, stored_bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
        "?19, ?20, ?21)");
    ins.bind(1, t.session_id).bind(2, t.node).bind(3, t.namespace_name).bind(4, t.pod).bind(5, t.container).bind(6, t.user);
    ins.bind(7, t.attribution).bind(8, t.status).bind(9, t.start_ns).bind(10, t.end_ns);
    ins.bind(11, static_cast<int64_t>(t.commands)).bind(12, static_cast<int64_t>(t.output_bytes));
    ins.bind(13, static_cast<int64_t>(t.lost_bytes)).bind_blob(14, t.chain_head).bind(15, static_cast<int64_t>(t.chain_records));
    ins.bind_blob(16, t.head_signature).bind(17, t.signing_key).bind(18, t.cause).bind(19, t.rule).bind(20, t.deleted_ns);
    ins.bind(21, static_cast<int64_t>(t.stored_bytes));
    ins.run();
    append_ledger(db_, id, LedgerKind::deleted, now_ns, to_bytes(tombstone_digest(t)), signer_.get());
    stored += t.stored_bytes;
    return true;
}

bool Retention::delete_session(const std::string& id, const std::string& cause, const std::string& rule, int64_t now_ns,
                               Pass& pass) {
    {
        Transaction tx(db_);
        if (!write_tombstone(id, cause, rule, now_ns, pass.stored_bytes_deleted)) return false;
        tx.commit();
    }
    pass.deleted_ids.push_back(id);
    pause();
    finish_deletion(id, now_ns);  // or the next pass, when stopping
    return true;
}

namespace {

// What of a command must repeat for a run to repeat another: everything but its pids, and its
// place in the tree (which earlier command is its parent, which one it replaced by exec).
struct TreeNode {
    std::string filename, argv, exe_path;
    int64_t uid = 0, gid = 0, exe_ino = 0, exe_dev = 0, fileless = 0, truncated = 0;
    std::optional<int64_t> retval;
    int parent = -1, replaced = -1;
    bool operator==(const TreeNode&) const = default;
};

std::vector<TreeNode> tree_of(Database& db, const std::string& id) {
    auto st = db.prepare(
        "SELECT pid, ppid, uid, gid, filename, argv, retval, argv_truncated, exe_path, exe_ino, exe_dev, exe_fileless "
        "FROM commands WHERE session_id = ?1 ORDER BY seq");
    st.bind(1, id);
    std::vector<TreeNode> out;
    std::vector<std::pair<int64_t, int64_t>> pids;  // pid, ppid
    while (st.step()) {
        TreeNode n;
        int64_t pid = st.column_int(0), ppid = st.column_int(1);
        n.uid = st.column_int(2);
        n.gid = st.column_int(3);
        n.filename = st.column_blob(4);
        n.argv = st.column_blob(5);
        n.retval = st.column_optional_int(6);
        n.truncated = st.column_int(7);
        n.exe_path = st.column_blob(8);
        n.exe_ino = st.column_int(9);
        n.exe_dev = st.column_int(10);
        n.fileless = st.column_int(11);
        for (int j = static_cast<int>(pids.size()) - 1; j >= 0; --j) {
            if (n.replaced < 0 && pids[static_cast<size_t>(j)].first == pid) n.replaced = j;
            if (n.parent < 0 && pids[static_cast<size_t>(j)].first == ppid) n.parent = j;
        }
        pids.emplace_back(pid, ppid);
        out.push_back(std::move(n));
    }
    return out;
}

// What the run's terminal showed and was sent, in order, without the times: equal for two runs
// whose output and input were byte for byte the same. nullopt: it cannot be read whole (a gap, a
// damaged chunk), and such a run does not fold.
std::optional<std::string> terminal_of(Database& db, const std::string& id) {
    auto st = db.prepare("SELECT first_offset_us, encoding, raw_size, data FROM io_chunks WHERE session_id = ?1 ORDER BY seq");
    st.bind(1, id);
    std::string out;
    bool whole = true;
    while (whole && st.step()) {
        std::string data = st.column_blob(3);
        if (st.column_int(1) == 1) {
            auto raw = zstd_decompress(data, static_cast<size_t>(st.column_int(2)), 1u << 20);
            if (!raw) return std::nullopt;
            data = std::move(*raw);
        }
        auto decoded = decode_chunk(data, static_cast<uint64_t>(st.column_int(0)), [&](const Frame& f) {
            if (f.kind == FrameKind::gap || f.kind == FrameKind::input_echo_off) whole = false;
            if (f.kind != FrameKind::output && f.kind != FrameKind::input) return;
            out += static_cast<char>(f.kind);
            out += std::to_string(f.data.size());
            out += ':';
            out += f.data;
        });
        if (!decoded) return std::nullopt;
    }
    if (!whole) return std::nullopt;
    return out;
}

// Its hash chain matches what is stored: a run whose records were changed on the node is never
// folded (its fold would be a proper tombstone over altered records), nor counted into a changed row.
bool chain_intact(Database& db, const std::string& id) {
    SessionStore store(db);
    auto s = store.find(id);
    return s && verify_session(store, *s, nullptr).verdict == Integrity::intact;
}

// A run that may fold, or be folded into: the kubelet's on both counts (the correlator's
// attribution and the recorder's judgement), no tty, ended with nothing lost.
constexpr const char* kFoldable =
    "{0}.attribution = 'kubelet' AND {0}.tty = 0 AND {0}.status = 'ended' AND {0}.lost_events = 0 AND {0}.lost_bytes = 0 "
    "AND {0}.start_lost = 0 AND json_extract({0}.kubelet_check, '$.kubelet') = 1 "
    "AND NOT EXISTS (SELECT 1 FROM session_holds h WHERE h.session_id = {0}.id) "
    "AND NOT EXISTS (SELECT 1 FROM session_tombstones x WHERE x.session_id = {0}.id)";

}  // namespace

void Retention::fold_runs(int64_t now_ns, Pass& pass) {
    std::optional<int64_t> floor = export_floor();
    // Runs that may go, oldest first: each is compared with what is left before it.
    int64_t after_t = std::numeric_limits<int64_t>::min();
    std::string after_id;
    for (;;) {
        std::vector<std::pair<std::string, int64_t>> page;
        {
            auto st = db_.prepare(fmt::format(
                "SELECT s.id, s.start_ns FROM sessions s WHERE {} AND s.runs = 1 AND (s.start_ns > ?2 OR (s.start_ns = ?2 AND s.id > ?3)) "
                "AND (?1 IS NULL OR coalesce((SELECT max(o.position) FROM export_outbox o WHERE o.session_id = s.id), 0) <= ?1) "
                "AND NOT EXISTS (SELECT 1 FROM upload_outbox u WHERE u.session_id = s.id) "
                // small enough for one short transaction
                "AND s.commands <= 256 AND s.output_bytes + s.input_bytes <= 65536 "
                "AND (SELECT count(*) FROM io_chunks k WHERE k.session_id = s.id) <= 16 "
                "ORDER BY s.start_ns, s.id LIMIT 500",
                fmt::format(fmt::runtime(kFoldable), "s")));
            st.bind(1, floor).bind(2, after_t).bind(3, after_id);
            while (st.step()) page.emplace_back(st.column_text(0), st.column_int(1));
        }
        if (page.empty()) return;
        after_t = page.back().second;
        after_id = page.back().first;
        size_t i = 0;
        while (i < page.size()) {
            if (stopping()) return;
            size_t n = 0;
            {
                Transaction tx(db_);
                for (; n < options_.fold_batch && i < page.size(); ++i) {
                    // the newest earlier row it repeats: a few candidates, compared whole
                    auto st = db_.prepare(fmt::format(
                        "SELECT t.id FROM sessions t JOIN sessions r ON r.id = ?1 WHERE {} AND t.id <> r.id "
                        // sessions_pod (namespace, pod, container) finds them
                        "AND t.namespace = r.namespace AND t.pod = r.pod AND t.container = r.container "
                        "AND t.container_id = r.container_id AND t.pod_uid = r.pod_uid "
                        "AND t.node = r.node AND t.command = r.command AND t.kubelet_check = r.kubelet_check "
                        "AND t.entered_via = r.entered_via AND t.exit_code IS r.exit_code AND t.exit_signal IS r.exit_signal "
                        "AND t.commands = r.commands AND t.output_bytes = r.output_bytes AND t.input_bytes = r.input_bytes "
                        "AND (t.start_ns < r.start_ns OR (t.start_ns = r.start_ns AND t.id < r.id)) "
                        "AND t.start_ns >= r.start_ns - ?2 ORDER BY t.start_ns DESC, t.id DESC LIMIT 4",
                        fmt::format(fmt::runtime(kFoldable), "t")));
                    st.bind(1, page[i].first).bind(2, options_.fold_window_ns);
                    std::vector<std::string> targets;
                    while (st.step()) targets.push_back(st.column_text(0));
                    st.reset();
                    if (targets.empty()) continue;
                    auto tree = tree_of(db_, page[i].first);
                    auto terminal = terminal_of(db_, page[i].first);
                    if (!terminal || !chain_intact(db_, page[i].first)) continue;
                    for (const auto& t : targets) {
                        if (tree_of(db_, t) != tree || terminal_of(db_, t) != terminal || !chain_intact(db_, t)) continue;
                        if (fold_into(page[i].first, t, now_ns, pass)) ++n;
                        break;
                    }
                }
                tx.commit();
            }
            if (n) pause();  // the writer's turn
        }
    }
}

bool Retention::fold_into(const std::string& id, const std::string& target, int64_t now_ns, Pass& pass) {
    auto run = db_.prepare("SELECT start_ns, end_ns - start_ns FROM sessions WHERE id = ?1 AND end_ns IS NOT NULL");
    run.bind(1, id);
    if (!run.step()) return false;
    int64_t start = run.column_int(0), duration = run.column_int(1);
    run.reset();
    // the target is re-checked in the same transaction: never one held, open or being deleted
    auto ok = db_.prepare("SELECT 1 FROM sessions t WHERE t.id = ?1 AND " + fmt::format(fmt::runtime(kFoldable), "t"));
    ok.bind(1, target);
    if (!ok.step()) return false;
    ok.reset();
    uint64_t stored = 0;
    if (!write_tombstone(id, "folded", folded_rule(target), now_ns, stored)) return false;
    auto count = db_.prepare(
        "UPDATE sessions SET runs = runs + 1, last_run_ns = max(coalesce(last_run_ns, start_ns), ?2), "
        "run_min_ns = min(coalesce(run_min_ns, end_ns - start_ns), ?3), run_max_ns = max(coalesce(run_max_ns, end_ns - start_ns), ?3) "
        "WHERE id = ?1");
    count.bind(1, target).bind(2, start).bind(3, duration);
    count.run();
    for (const char* sql : {"DELETE FROM io_chunks WHERE session_id = ?1", "DELETE FROM commands WHERE session_id = ?1",
                            "DELETE FROM session_candidates WHERE session_id = ?1", "DELETE FROM sessions WHERE id = ?1"}) {
        auto del = db_.prepare(sql);
        del.bind(1, id);
        del.run();
    }
    auto done = db_.prepare("UPDATE session_tombstones SET completed_ns = ?2 WHERE session_id = ?1");
    done.bind(1, id).bind(2, now_ns);
    done.run();
    ++pass.folded;
    pass.stored_bytes_deleted += stored;
    return true;
}

bool Retention::finish_deletion(const std::string& id, int64_t now_ns) {
    // terminal chunks, then commands, a batch per transaction, then the row (and with it its outbox entries)
    auto batches = [&](const char* sql, size_t batch) {
        for (;;) {
            if (stopping()) return false;
            int changed = 0;
            {
                Transaction tx(db_);
                auto del = db_.prepare(sql);
                del.bind(1, id).bind(2, static_cast<int64_t>(batch));
                del.run();
                changed = sqlite3_changes(db_.handle());
                tx.commit();
            }
            if (changed == 0) return true;
            pause();
        }
    };
    if (!batches("DELETE FROM io_chunks WHERE session_id = ?1 AND seq IN (SELECT seq FROM io_chunks WHERE session_id = ?1 "
                 "ORDER BY seq LIMIT ?2)",
                 options_.chunk_batch))
        return false;
    if (!batches("DELETE FROM commands WHERE session_id = ?1 AND seq IN (SELECT seq FROM commands WHERE session_id = ?1 "
                 "ORDER BY seq LIMIT ?2)",
                 options_.command_batch))
        return false;
    Transaction tx(db_);
    auto held = db_.prepare("SELECT 1 FROM session_holds WHERE session_id = ?1");
    held.bind(1, id);
    if (held.step()) {
        // cannot happen through execaudit (a hold refuses a session being deleted); said, not hidden
        log::error("retention: session {} is held while being deleted; its row stays, its records are gone", id);
        return false;
    }
    held.reset();
    for (const char* sql : {"DELETE FROM session_candidates WHERE session_id = ?1", "DELETE FROM sessions WHERE id = ?1"}) {
        auto del = db_.prepare(sql);
        del.bind(1, id);
        del.run();
    }
    auto done = db_.prepare("UPDATE session_tombstones SET completed_ns = ?2 WHERE session_id = ?1");
    done.bind(1, id).bind(2, now_ns);
    done.run();
    tx.commit();
    return true;
}

void Retention::reclaim() {
    if (!incremental_vacuum_) return;
    for (;;) {
        if (stopping()) return;
        auto fl = db_.prepare("PRAGMA freelist_count");
        if (!fl.step() || fl.column_int(0) == 0) break;
        fl.reset();
        {
            Transaction tx(db_);
            db_.exec(fmt::format("PRAGMA incremental_vacuum({})", options_.vacuum_pages));
            tx.commit();
        }
        pause();
    }
    // the file shrinks when the WAL is copied back: without waiting for anyone
    try {
        db_.exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (const std::exception&) {
    }
}

}  // namespace execaudit::storage
