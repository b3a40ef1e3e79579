#include "storage/schema.h"

#include "common/errors.h"
#include "storage/database.h"

#include <fmt/format.h>

#include <array>

namespace execaudit::storage {
namespace {

// Forward migrations: entry i takes a file from version i to i+1. Append only; never edit one
// that has shipped.
constexpr std::array kMigrations = {
    // v1: sessions, their commands and their terminal I/O.
    R"sql(
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    node            TEXT NOT NULL,
    namespace       TEXT NOT NULL DEFAULT '',
    pod             TEXT NOT NULL DEFAULT '',
    pod_uid         TEXT NOT NULL DEFAULT '',
    container       TEXT NOT NULL DEFAULT '',
    container_id    TEXT NOT NULL DEFAULT '',
    cgroup_id       INTEGER NOT NULL,
    cgroup_path     TEXT NOT NULL DEFAULT '',
    leader_pid      INTEGER NOT NULL,
    leader_start_ns INTEGER NOT NULL DEFAULT 0,  -- boot-time ns the leader process started
    boot_id         TEXT NOT NULL DEFAULT '',    -- kernel boot the boot-time values belong to
    tty             INTEGER NOT NULL DEFAULT 0,
    command         BLOB NOT NULL DEFAULT x'',   -- argv, NUL-separated, bytes as recorded
    command_text    TEXT NOT NULL DEFAULT '',    -- the same for display and search (valid UTF-8)
    start_ns        INTEGER NOT NULL,            -- wall clock, ns since the epoch (UTC)
    start_boot_ns   INTEGER NOT NULL,            -- CLOCK_BOOTTIME of the same instant
    end_ns          INTEGER,
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended', 'interrupted')),
    exit_code       INTEGER,
    exit_signal     INTEGER,
    attribution     TEXT NOT NULL DEFAULT 'pending'
                    CHECK (attribution IN ('pending', 'audit', 'admission', 'ambiguous', 'unattributed')),
    user            TEXT,
    groups_json     TEXT NOT NULL DEFAULT '[]',
    source_ips_json TEXT NOT NULL DEFAULT '[]',
    user_agent      TEXT NOT NULL DEFAULT '',
    audit_id        TEXT NOT NULL DEFAULT '',
    commands        INTEGER NOT NULL DEFAULT 0,
    output_bytes    INTEGER NOT NULL DEFAULT 0,
    input_bytes     INTEGER NOT NULL DEFAULT 0,
    lost_bytes      INTEGER NOT NULL DEFAULT 0,
    lost_events     INTEGER NOT NULL DEFAULT 0,
    rows            INTEGER NOT NULL DEFAULT 0,
    cols            INTEGER NOT NULL DEFAULT 0,
    entered_via     TEXT NOT NULL DEFAULT '',
    start_lost      INTEGER NOT NULL DEFAULT 0,
    last_activity_ns INTEGER NOT NULL DEFAULT 0  -- wall clock of the newest record
);
CREATE INDEX sessions_start ON sessions (start_ns);
CREATE INDEX sessions_pod ON sessions (namespace, pod, container);
CREATE INDEX sessions_status ON sessions (status);

CREATE TABLE commands (
    session_id     TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    time_ns        INTEGER NOT NULL,
    boot_ns        INTEGER NOT NULL,
    pid            INTEGER NOT NULL,
    ppid           INTEGER NOT NULL,
    ns_pid         INTEGER NOT NULL DEFAULT 0,
    uid            INTEGER NOT NULL,
    gid            INTEGER NOT NULL,
    filename       BLOB NOT NULL,
    argv           BLOB NOT NULL,                -- NUL-separated, bytes as recorded
    argv_text      TEXT NOT NULL,                -- the same for display and search
    retval         INTEGER,                      -- NULL when the result was lost
    argv_truncated INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

-- Terminal I/O in chunks of frames (storage/io_frames.h), compressed.
CREATE TABLE io_chunks (
    session_id      TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    first_offset_us INTEGER NOT NULL,  -- first frame, since the session's start
    last_offset_us  INTEGER NOT NULL,
    frames          INTEGER NOT NULL,
    output_bytes    INTEGER NOT NULL,
    input_bytes     INTEGER NOT NULL,
    encoding        INTEGER NOT NULL,  -- 0 raw, 1 zstd
    raw_size        INTEGER NOT NULL,
    data            BLOB NOT NULL,
    PRIMARY KEY (session_id, seq)
);
)sql",

    // v2: who asked (audit webhook/log, admission webhook) and the correlation verdicts.
    R"sql(
-- Every stage of every exec-like request, as received: the record of what the API server said.
CREATE TABLE audit_events (
    audit_id    TEXT NOT NULL,
    stage       TEXT NOT NULL,
    source      TEXT NOT NULL,        -- webhook | log | admission
    received_ns INTEGER NOT NULL,     -- requestReceivedTimestamp (API server clock)
    stage_ns    INTEGER NOT NULL,
    ingested_ns INTEGER NOT NULL,     -- when this node stored it
    raw_json    TEXT NOT NULL,
    PRIMARY KEY (audit_id, stage)     -- webhook retries and log re-reads are idempotent
) WITHOUT ROWID;

-- One row per request (its stages merged) and where correlation put it.
CREATE TABLE exec_requests (
    id               TEXT PRIMARY KEY,  -- auditID, or the admission review's uid
    source           TEXT NOT NULL CHECK (source IN ('audit', 'admission')),
    kind             TEXT NOT NULL,     -- exec | attach | ephemeralcontainers
    verb             TEXT NOT NULL DEFAULT '',
    namespace        TEXT NOT NULL,
    pod              TEXT NOT NULL,
    container        TEXT NOT NULL DEFAULT '',
    command          BLOB NOT NULL DEFAULT x'',
    command_text     TEXT NOT NULL DEFAULT '',
    tty              INTEGER NOT NULL DEFAULT 0,
    stdin            INTEGER NOT NULL DEFAULT 0,
    user             TEXT NOT NULL DEFAULT '',
    user_uid         TEXT NOT NULL DEFAULT '',
    groups_json      TEXT NOT NULL DEFAULT '[]',
    user_extra_json  TEXT NOT NULL DEFAULT '{}',
    impersonated_user TEXT NOT NULL DEFAULT '',
    impersonated_groups_json TEXT NOT NULL DEFAULT '[]',
    source_ips_json  TEXT NOT NULL DEFAULT '[]',
    user_agent       TEXT NOT NULL DEFAULT '',
    authz_decision   TEXT NOT NULL DEFAULT '',
    authz_reason     TEXT NOT NULL DEFAULT '',
    response_code    INTEGER NOT NULL DEFAULT 0,
    response_message TEXT NOT NULL DEFAULT '',
    received_ns      INTEGER NOT NULL,
    started_ns       INTEGER,
    completed_ns     INTEGER,
    state            TEXT NOT NULL CHECK (state IN
                     ('pending', 'matched', 'ambiguous', 'unrecorded', 'denied', 'failed', 'observed')),
    session_id       TEXT,
    updated_ns       INTEGER NOT NULL
);
CREATE INDEX exec_requests_state ON exec_requests (state, received_ns);
CREATE INDEX exec_requests_session ON exec_requests (session_id);

-- An ambiguous session's candidates: every request that fits it equally.
CREATE TABLE session_candidates (
    session_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    PRIMARY KEY (session_id, request_id)
) WITHOUT ROWID;

-- Where the audit log tail resumes after a restart.
CREATE TABLE audit_log_cursor (
    path       TEXT PRIMARY KEY,
    inode      INTEGER NOT NULL,
    offset     INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
)sql",

    // v3: export. An outbox of exportable records, filled by triggers in the writer's own
    // transactions, and one cursor per destination. Positions grow in commit order (SQLite has
    // one writer at a time and AUTOINCREMENT never reuses a value), so an exporter that reads
    // `position > cursor` never misses a record committed after it looked. Self-contained:
    // it only reads columns of v1 (sessions.status, sessions.attribution, commands.seq).
    R"sql(
CREATE TABLE export_outbox (
    position   INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind       INTEGER NOT NULL,  -- 1 session_start, 2 command, 3 session_end, 4 session_attributed
    seq        INTEGER NOT NULL DEFAULT 0,  -- command: its seq; session_attributed: 0, 1, ... per session
    noted_ns   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000000.0 AS INTEGER)),
    UNIQUE (session_id, kind, seq)
);

CREATE TABLE export_cursor (
    name       TEXT PRIMARY KEY,   -- the destination ("syslog tls://siem:6514", "jsonl /var/log/x.jsonl")
    position   INTEGER NOT NULL,   -- every record up to here is delivered
    updated_ns INTEGER NOT NULL
);

-- NOT EXISTS rather than OR IGNORE: an outer INSERT OR REPLACE would turn OR IGNORE into REPLACE
-- and move an existing entry to a new position.
CREATE TRIGGER export_session_start AFTER INSERT ON sessions BEGIN
    INSERT INTO export_outbox (session_id, kind, seq) SELECT NEW.id, 1, 0
    WHERE NOT EXISTS (SELECT 1 FROM export_outbox WHERE session_id = NEW.id AND kind = 1);
    INSERT INTO export_outbox (session_id, kind, seq) SELECT NEW.id, 3, 0
    WHERE NEW.status <> 'open' AND NOT EXISTS (SELECT 1 FROM export_outbox WHERE session_id = NEW.id AND kind = 3);
END;
CREATE TRIGGER export_session_end AFTER UPDATE OF status ON sessions
WHEN OLD.status = 'open' AND NEW.status <> 'open' BEGIN
    INSERT INTO export_outbox (session_id, kind, seq) SELECT NEW.id, 3, 0
    WHERE NOT EXISTS (SELECT 1 FROM export_outbox WHERE session_id = NEW.id AND kind = 3);
END;
CREATE TRIGGER export_session_attributed AFTER UPDATE OF attribution ON sessions
WHEN NEW.attribution <> 'pending' AND NEW.attribution IS NOT OLD.attribution BEGIN
    INSERT INTO export_outbox (session_id, kind, seq)
    VALUES (NEW.id, 4, (SELECT count(*) FROM export_outbox WHERE session_id = NEW.id AND kind = 4));
END;
CREATE TRIGGER export_command AFTER INSERT ON commands BEGIN
    INSERT INTO export_outbox (session_id, kind, seq) SELECT NEW.session_id, 2, NEW.seq
    WHERE NOT EXISTS (SELECT 1 FROM export_outbox WHERE session_id = NEW.session_id AND kind = 2 AND seq = NEW.seq);
END;

-- What was recorded before this version: each session's start, its commands, its end.
INSERT OR IGNORE INTO export_outbox (session_id, kind, seq, noted_ns)
SELECT session_id, kind, seq, noted_ns FROM (
    SELECT s.id AS session_id, 1 AS kind, 0 AS seq, s.start_ns AS noted_ns, s.start_ns AS t, 0 AS o FROM sessions s
    UNION ALL
    SELECT c.session_id, 2, c.seq, c.time_ns, s.start_ns, 1 FROM commands c JOIN sessions s ON s.id = c.session_id
    UNION ALL
    SELECT s.id, 3, 0, coalesce(s.end_ns, s.start_ns), s.start_ns, 2 FROM sessions s WHERE s.status <> 'open'
) ORDER BY t, session_id, o, seq;
)sql",

    // v4: attribution nobody can fool (issue 11). Requests are keyed by what all their stages
    // share (a reused Audit-ID makes a request of its own), keep their exact argv and whether
    // their sender was authenticated; sessions keep which request named them, whether that
    // identity was verified, and whether their argv matched as a prefix. The attribution CHECK
    // gains 'workload' and 'kubelet' in widen_attribution_check below.
    R"sql(
ALTER TABLE exec_requests ADD COLUMN audit_id TEXT NOT NULL DEFAULT '';
ALTER TABLE exec_requests ADD COLUMN verified INTEGER NOT NULL DEFAULT 1;
ALTER TABLE exec_requests ADD COLUMN command_lp BLOB;  -- argv, length-prefixed (exact, NULs included)
UPDATE exec_requests SET audit_id = id;
ALTER TABLE sessions ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_verified INTEGER NOT NULL DEFAULT 1;
ALTER TABLE sessions ADD COLUMN argv_prefix_matched INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET request_id = audit_id;

CREATE TABLE audit_events_v4 (
    request_id  TEXT NOT NULL,        -- the request's key (exec_requests.id)
    audit_id    TEXT NOT NULL,
    stage       TEXT NOT NULL,
    source      TEXT NOT NULL,        -- webhook | log | admission | admission-unverified
    received_ns INTEGER NOT NULL,
    stage_ns    INTEGER NOT NULL,
    ingested_ns INTEGER NOT NULL,
    raw_json    TEXT NOT NULL,
    PRIMARY KEY (request_id, stage)   -- webhook retries and log re-reads are idempotent
) WITHOUT ROWID;
INSERT INTO audit_events_v4 SELECT audit_id, audit_id, stage, source, received_ns, stage_ns, ingested_ns, raw_json
FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_v4 RENAME TO audit_events;
)sql",

    // v5: what ran, not what was claimed (issue 10): the executable the kernel loaded.
    R"sql(
ALTER TABLE commands ADD COLUMN exe_path BLOB NOT NULL DEFAULT x'';
ALTER TABLE commands ADD COLUMN exe_ino INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN exe_dev INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN exe_fileless INTEGER NOT NULL DEFAULT 0;
)sql",

    // v6: sessions survive the recorder (issue 10): a restarted recorder finds the open
    // sessions of its node and boot by the kernel's number for them, and knows from
    // recorder_state whether its predecessor stopped cleanly.
    R"sql(
ALTER TABLE sessions ADD COLUMN kernel_session_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX sessions_open ON sessions (node, boot_id) WHERE status = 'open';
CREATE TABLE recorder_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
)sql",

    // v7: tamper evidence (issue 15, docs/integrity.md). Each command and chunk keeps its place in
    // its session's hash chain and the chain's hash there; a session keeps the hash of its start
    // and, once it ended, the head, how many records it covers and its Ed25519 signature.
    // NULL chain columns: recorded before v7 (verify says so, it cannot check them).
    R"sql(
ALTER TABLE commands ADD COLUMN chain_index INTEGER;
ALTER TABLE commands ADD COLUMN chain_hash BLOB;
ALTER TABLE io_chunks ADD COLUMN chain_index INTEGER;
ALTER TABLE io_chunks ADD COLUMN chain_hash BLOB;
ALTER TABLE sessions ADD COLUMN chain_start BLOB;
ALTER TABLE sessions ADD COLUMN chain_head BLOB;
ALTER TABLE sessions ADD COLUMN chain_records INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN head_signature BLOB;
ALTER TABLE sessions ADD COLUMN signing_key TEXT NOT NULL DEFAULT '';
)sql",

    // v8: the node's SQLite is the durable upload spool (cluster mode, `record --collector`). An
    // outbox of what is not yet acknowledged by the collector, filled by triggers in the writer's
    // own transactions, only while upload is enabled (recorder_state 'upload_spool' holds the
    // spool's id). Positions grow in commit order (one writer, AUTOINCREMENT); a record that
    // changes again (a session's end, a command's result) moves to a new position, so the newest
    // state is always sent after the older one. Rows are deleted once the collector committed them.
    R"sql(
CREATE TABLE upload_outbox (
    position   INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    kind       INTEGER NOT NULL,          -- 1 session, 2 command, 3 chunk
    seq        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (session_id, kind, seq)
);
CREATE TRIGGER upload_session_insert AFTER INSERT ON sessions
WHEN EXISTS (SELECT 1 FROM recorder_state WHERE key = 'upload_spool') BEGIN
    DELETE FROM upload_outbox WHERE session_id = NEW.id AND kind = 1;
    INSERT INTO upload_outbox (session_id, kind, seq) VALUES (NEW.id, 1, 0);
END;
CREATE TRIGGER upload_session_update AFTER UPDATE ON sessions
WHEN EXISTS (SELECT 1 FROM recorder_state WHERE key = 'upload_spool') BEGIN
    DELETE FROM upload_outbox WHERE session_id = NEW.id AND kind = 1;
    INSERT INTO upload_outbox (session_id, kind, seq) VALUES (NEW.id, 1, 0);
END;
-- commands and chunks are written with INSERT OR REPLACE: an AFTER INSERT trigger sees both
CREATE TRIGGER upload_command AFTER INSERT ON commands
WHEN EXISTS (SELECT 1 FROM recorder_state WHERE key = 'upload_spool') BEGIN
    DELETE FROM upload_outbox WHERE session_id = NEW.session_id AND kind = 2 AND seq = NEW.seq;
    INSERT INTO upload_outbox (session_id, kind, seq) VALUES (NEW.session_id, 2, NEW.seq);
END;
CREATE TRIGGER upload_chunk AFTER INSERT ON io_chunks
WHEN EXISTS (SELECT 1 FROM recorder_state WHERE key = 'upload_spool') BEGIN
    DELETE FROM upload_outbox WHERE session_id = NEW.session_id AND kind = 3 AND seq = NEW.seq;
    INSERT INTO upload_outbox (session_id, kind, seq) VALUES (NEW.session_id, 3, NEW.seq);
END;
)sql",

    // v9: retention (issue 15, docs/retention.md). A legal hold keeps a session from every
    // deletion (the database itself refuses to delete a held session); every hold and release
    // is logged. The ledger is a hash chain of every session recorded and every session deleted
    // by policy, so `verify` tells a session deleted by retention (its tombstone: what, when,
    // which rule, its head) from one removed by someone else. Records that arrive for a deleted
    // session (a process that outlived its leader) are ignored rather than failing the writer.
    R"sql(
CREATE TABLE session_holds (
    session_id TEXT PRIMARY KEY REFERENCES sessions (id),  -- no cascade: a held session is never deleted
    reason     TEXT NOT NULL,
    held_by    TEXT NOT NULL,
    held_ns    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE hold_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('hold', 'release')),
    reason     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    time_ns    INTEGER NOT NULL
);
CREATE TRIGGER sessions_held_never_deleted BEFORE DELETE ON sessions
WHEN EXISTS (SELECT 1 FROM session_holds WHERE session_id = OLD.id) BEGIN
    SELECT RAISE(ABORT, 'this session is under legal hold: release it first (execaudit release)');
END;

CREATE TABLE session_ledger (
    position    INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL,
    kind        INTEGER NOT NULL CHECK (kind IN (1, 2)),  -- 1 recorded, 2 deleted by policy
    time_ns     INTEGER NOT NULL,  -- recorded: the session's start; deleted: when its deletion began
    digest      BLOB NOT NULL,     -- recorded: the chain start (empty before v7); deleted: the tombstone's digest
    hash        BLOB NOT NULL,     -- SHA-256 over the previous entry's hash and this entry
    signature   BLOB,              -- Ed25519 over the hash (record --signing-key)
    signing_key TEXT NOT NULL DEFAULT '',
    UNIQUE (session_id, kind)
);
CREATE TABLE session_tombstones (
    session_id     TEXT PRIMARY KEY,
    node           TEXT NOT NULL,
    namespace      TEXT NOT NULL,
    pod            TEXT NOT NULL,
    container      TEXT NOT NULL,
    user           TEXT,
    attribution    TEXT NOT NULL,
    status         TEXT NOT NULL,
    start_ns       INTEGER NOT NULL,
    end_ns         INTEGER,
    commands       INTEGER NOT NULL,
    output_bytes   INTEGER NOT NULL,
    lost_bytes     INTEGER NOT NULL,
    chain_head     BLOB NOT NULL,
    chain_records  INTEGER NOT NULL,
    head_signature BLOB NOT NULL,
    signing_key    TEXT NOT NULL,
    cause          TEXT NOT NULL CHECK (cause IN ('age', 'size')),
    rule           TEXT NOT NULL,     -- the rule as configured: "retention-days 30", "retention-namespace prod-*=400", ...
    deleted_ns     INTEGER NOT NULL,  -- when the deletion began
    completed_ns   INTEGER,           -- when its last row went; NULL: still being deleted
    stored_bytes   INTEGER NOT NULL DEFAULT 0  -- its terminal data as stored (compressed)
) WITHOUT ROWID;
CREATE INDEX session_tombstones_start ON session_tombstones (start_ns);
CREATE TRIGGER commands_of_deleted_ignored BEFORE INSERT ON commands
WHEN EXISTS (SELECT 1 FROM session_tombstones WHERE session_id = NEW.session_id) BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER chunks_of_deleted_ignored BEFORE INSERT ON io_chunks
WHEN EXISTS (SELECT 1 FROM session_tombstones WHERE session_id = NEW.session_id) BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER sessions_deleted_not_again BEFORE INSERT ON sessions
WHEN EXISTS (SELECT 1 FROM session_tombstones WHERE session_id = NEW.id) BEGIN SELECT RAISE(IGNORE); END;
CREATE INDEX sessions_end ON sessions (end_ns) WHERE status <> 'open';
)sql",

    // v10: the recorder's kubelet judgement of each ended exec session (storage/records.h
    // KubeletCheck, as JSON; NULL: not judged), stored with the session's end so that it leaves
    // the node with it: in cluster mode the collector's correlator decides by it (issue 17).
    R"sql(
ALTER TABLE sessions ADD COLUMN kubelet_check TEXT;
)sql",

    // v11: which workload (issue 17, docs/pods.md): what the API server said of the session's pod
    // when it started, and the cluster's name. pod_labels NULL: the pod was not known (no API
    // access); the other pod columns are then NULL too.
    R"sql(
ALTER TABLE sessions ADD COLUMN pod_labels TEXT;  -- a JSON object of strings, bounded by the recorder
ALTER TABLE sessions ADD COLUMN pod_labels_dropped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN owner_kind TEXT;
ALTER TABLE sessions ADD COLUMN owner_name TEXT;
ALTER TABLE sessions ADD COLUMN workload_kind TEXT;
ALTER TABLE sessions ADD COLUMN workload_name TEXT;
ALTER TABLE sessions ADD COLUMN service_account TEXT;
ALTER TABLE sessions ADD COLUMN cluster TEXT;
CREATE INDEX sessions_workload ON sessions (workload_name, workload_kind);
)sql",

    // v12: a row may stand for several runs (issue 17, docs/kubelet-execs.md "Folded runs"). The
    // kubelet's identical probe and hook runs are folded by retention (storage/retention.h) into
    // the earlier row they repeat: it counts them, the folded run goes through the tombstone path
    // with cause 'folded' (rule "folded into ID"; the CHECK gains 'folded' in widen_tombstone_cause
    // below). last_run_ns, run_min_ns, run_max_ns NULL: nothing folded into it yet (its own run is all it stands for). A fold's
    // update of the target is not a change the collector needs (it has every run as uploaded): the
    // upload trigger skips it.
    R"sql(
ALTER TABLE sessions ADD COLUMN runs INTEGER NOT NULL DEFAULT 1;
ALTER TABLE sessions ADD COLUMN last_run_ns INTEGER;        -- the start of the newest run folded into it
ALTER TABLE sessions ADD COLUMN run_min_ns INTEGER;         -- the shortest run's duration, its own included
ALTER TABLE sessions ADD COLUMN run_max_ns INTEGER;         -- the longest
DROP TRIGGER upload_session_update;
CREATE TRIGGER upload_session_update AFTER UPDATE ON sessions
WHEN EXISTS (SELECT 1 FROM recorder_state WHERE key = 'upload_spool') AND NEW.runs IS OLD.runs BEGIN
    DELETE FROM upload_outbox WHERE session_id = NEW.id AND kind = 1;
    INSERT INTO upload_outbox (session_id, kind, seq) VALUES (NEW.id, 1, 0);
END;
)sql",
};

// Relaxes a CHECK of `table` written by an earlier migration: replaces `old_text` with `new_text`
// in its stored CREATE TABLE and checks that `marker` is then in it.
void widen_check(Database& db, const char* table, const char* old_text, const char* new_text, const char* marker);

// The attribution CHECK of v1 gains 'workload' and 'kubelet'. SQLite cannot alter a CHECK, and
// rebuilding `sessions` (its foreign keys and export triggers) is risky; relaxing a constraint
// is what SQLite's documented writable_schema procedure is for ("Making Other Kinds Of Table
// Schema Changes"): edit the stored CREATE TABLE, bump schema_version so it is re-read.
void widen_attribution_check(Database& db) {
    widen_check(db, "sessions", "CHECK (attribution IN ('pending', 'audit', 'admission', 'ambiguous', 'unattributed'))",
                "CHECK (attribution IN ('pending', 'audit', 'admission', 'ambiguous', 'unattributed', 'workload', 'kubelet'))",
                "'workload'");
}

// v12: a tombstone's cause gains 'folded' (the same procedure).
void widen_tombstone_cause(Database& db) {
    widen_check(db, "session_tombstones", "CHECK (cause IN ('age', 'size'))", "CHECK (cause IN ('age', 'size', 'folded'))",
                "'folded'");
}

void widen_check(Database& db, const char* table, const char* old_text, const char* new_text, const char* marker) {
    auto version = db.prepare("PRAGMA schema_version");
    version.step();
    int64_t v = version.column_int(0);
    version.reset();
    db.exec("PRAGMA writable_schema = ON");
    auto edit = db.prepare("UPDATE sqlite_master SET sql = replace(sql, ?1, ?2) WHERE type = 'table' AND name = ?3");
    edit.bind(1, std::string_view(old_text)).bind(2, std::string_view(new_text)).bind(3, std::string_view(table));
    edit.run();
    db.exec(fmt::format("PRAGMA schema_version = {}", v + 1));
    db.exec("PRAGMA writable_schema = OFF");
    auto check = db.prepare("SELECT instr(sql, ?1) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?2");
    check.bind(1, std::string_view(marker)).bind(2, std::string_view(table));
    if (!check.step() || check.column_int(0) == 0)
        throw RuntimeError(fmt::format("{}: cannot widen a CHECK of {} (it is not the one an earlier migration created)", db.path(), table));
}

}  // namespace

int current_schema_version() { return static_cast<int>(kMigrations.size()); }

int schema_version(Database& db) {
    auto st = db.prepare("PRAGMA user_version");
    st.step();
    return static_cast<int>(st.column_int(0));
}

void migrate(Database& db) {
    int version = schema_version(db);
    if (version > current_schema_version())
        throw UsageError(fmt::format("{} was written by a newer execaudit (schema v{}, this build knows v{})",
                                     db.path(), version, current_schema_version()));
    if (version == current_schema_version()) return;
    Transaction tx(db);
    for (int v = version; v < current_schema_version(); ++v) {
        db.exec(kMigrations[static_cast<size_t>(v)]);
        if (v == 3) widen_attribution_check(db);
        if (v == 11) widen_tombstone_cause(db);
    }
    db.exec(fmt::format("PRAGMA user_version = {}", current_schema_version()));
    tx.commit();
}

}  // namespace execaudit::storage
