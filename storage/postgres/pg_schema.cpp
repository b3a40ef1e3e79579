#include "storage/postgres/pg_schema.h"

#include "common/log.h"
#include "storage/postgres/pg_ledger.h"

#include <fmt/format.h>

#include <array>

namespace execaudit::storage::pg {
namespace {

// The advisory lock key of migrations ('execaudt' as a number): replicas starting together
// migrate one after the other.
constexpr int64_t kMigrationLock = 0x6578656361756474;
// The version that brought the session ledger: the migration to it enters the stored sessions.
constexpr int kLedgerVersion = 6;

// Forward migrations: entry i takes a database from version i to i+1. Append only; never edit
// one that has shipped. Times are ns since the epoch (UTC) as on the node, so a row reads back
// exactly as the node stored it.
constexpr std::array kMigrations = {
    // v1: sessions, commands, terminal chunks, the API's requests, export, the nodes.
    R"sql(
CREATE EXTENSION IF NOT EXISTS pg_trgm;  -- substring search (sessions --command) by index

CREATE TABLE sessions (
    id               text PRIMARY KEY,  -- the node's id; owned by `node` (see collector/)
    node             text NOT NULL,     -- the name the uploading node's certificate proves
    namespace        text NOT NULL DEFAULT '',
    pod              text NOT NULL DEFAULT '',
    pod_uid          text NOT NULL DEFAULT '',
    container        text NOT NULL DEFAULT '',
    container_id     text NOT NULL DEFAULT '',
    cgroup_id        bigint NOT NULL DEFAULT 0,
    cgroup_path      text NOT NULL DEFAULT '',
    leader_pid       bigint NOT NULL DEFAULT 0,
    leader_start_ns  bigint NOT NULL DEFAULT 0,
    boot_id          text NOT NULL DEFAULT '',
    tty              boolean NOT NULL DEFAULT false,
    command          bytea NOT NULL DEFAULT '',  -- argv, NUL-separated, bytes as recorded
    command_text     text NOT NULL DEFAULT '',   -- the same for display and search (valid UTF-8)
    start_ns         bigint NOT NULL,
    start_boot_ns    bigint NOT NULL DEFAULT 0,
    end_ns           bigint,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended', 'interrupted')),
    exit_code        integer,
    exit_signal      integer,
    attribution      text NOT NULL DEFAULT 'pending' CHECK (attribution IN
                     ('pending', 'audit', 'admission', 'ambiguous', 'unattributed', 'workload', 'kubelet')),
    username         text,
    groups_json      text NOT NULL DEFAULT '[]',
    source_ips_json  text NOT NULL DEFAULT '[]',
    user_agent       text NOT NULL DEFAULT '',
    audit_id         text NOT NULL DEFAULT '',
    request_id       text NOT NULL DEFAULT '',
    user_verified    boolean NOT NULL DEFAULT true,
    argv_prefix_matched boolean NOT NULL DEFAULT false,
    commands         integer NOT NULL DEFAULT 0,
    output_bytes     bigint NOT NULL DEFAULT 0,
    input_bytes      bigint NOT NULL DEFAULT 0,
    lost_bytes       bigint NOT NULL DEFAULT 0,
    lost_events      bigint NOT NULL DEFAULT 0,
    rows             integer NOT NULL DEFAULT 0,
    cols             integer NOT NULL DEFAULT 0,
    entered_via      text NOT NULL DEFAULT '',
    start_lost       boolean NOT NULL DEFAULT false,
    last_activity_ns bigint NOT NULL DEFAULT 0,
    committed_ns     bigint NOT NULL DEFAULT 0   -- when the collector last committed this row
);
-- one index per `sessions` filter: --since/--until, --user, --namespace/--pod/--container,
-- --command (trigram), --unattributed; and the node's own listing
CREATE INDEX sessions_start ON sessions (start_ns DESC, id);
CREATE INDEX sessions_end ON sessions (end_ns);
CREATE INDEX sessions_user ON sessions (username);
CREATE INDEX sessions_pod ON sessions (namespace, pod, container);
CREATE INDEX sessions_pod_name ON sessions (pod);
CREATE INDEX sessions_container ON sessions (container);
CREATE INDEX sessions_command_text ON sessions USING gin (command_text gin_trgm_ops);
CREATE INDEX sessions_unattributed ON sessions (start_ns) WHERE attribution = 'unattributed';
CREATE INDEX sessions_node ON sessions (node, start_ns);
CREATE INDEX sessions_id_prefix ON sessions (id text_pattern_ops);

CREATE TABLE commands (
    session_id     text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq            integer NOT NULL,
    time_ns        bigint NOT NULL,
    boot_ns        bigint NOT NULL DEFAULT 0,
    pid            bigint NOT NULL DEFAULT 0,
    ppid           bigint NOT NULL DEFAULT 0,
    ns_pid         bigint NOT NULL DEFAULT 0,
    uid            bigint NOT NULL DEFAULT 0,
    gid            bigint NOT NULL DEFAULT 0,
    filename       bytea NOT NULL DEFAULT '',
    argv           bytea NOT NULL DEFAULT '',
    argv_text      text NOT NULL DEFAULT '',
    retval         integer,
    argv_truncated boolean NOT NULL DEFAULT false,
    exe_path       bytea NOT NULL DEFAULT '',
    exe_ino        bigint NOT NULL DEFAULT 0,
    exe_dev        bigint NOT NULL DEFAULT 0,
    exe_fileless   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX commands_argv_text ON commands USING gin (argv_text gin_trgm_ops);

-- Terminal I/O as the node stored it (storage/io_frames.h; zstd when encoding = 1). Retention
-- deletes by time: time_ns is the chunk's first frame (session start + first_offset_us), indexed.
CREATE TABLE io_chunks (
    session_id      text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq             integer NOT NULL,
    first_offset_us bigint NOT NULL,
    last_offset_us  bigint NOT NULL,
    frames          integer NOT NULL,
    output_bytes    bigint NOT NULL,
    input_bytes     bigint NOT NULL,
    encoding        smallint NOT NULL,
    raw_size        integer NOT NULL,
    data            bytea NOT NULL,
    time_ns         bigint NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE INDEX io_chunks_time ON io_chunks (time_ns);

CREATE TABLE audit_events (
    request_id  text NOT NULL,
    audit_id    text NOT NULL,
    stage       text NOT NULL,
    source      text NOT NULL,
    received_ns bigint NOT NULL,
    stage_ns    bigint NOT NULL,
    ingested_ns bigint NOT NULL,
    raw_json    text NOT NULL,
    PRIMARY KEY (request_id, stage)
);

CREATE TABLE exec_requests (
    id               text PRIMARY KEY,
    audit_id         text NOT NULL DEFAULT '',
    source           text NOT NULL CHECK (source IN ('audit', 'admission')),
    verified         boolean NOT NULL DEFAULT true,
    kind             text NOT NULL,
    verb             text NOT NULL DEFAULT '',
    namespace        text NOT NULL,
    pod              text NOT NULL,
    container        text NOT NULL DEFAULT '',
    command          bytea NOT NULL DEFAULT '',  -- length-prefixed argv (exact, NULs included)
    command_text     text NOT NULL DEFAULT '',
    tty              boolean NOT NULL DEFAULT false,
    stdin            boolean NOT NULL DEFAULT false,
    username         text NOT NULL DEFAULT '',
    user_uid         text NOT NULL DEFAULT '',
    groups_json      text NOT NULL DEFAULT '[]',
    user_extra_json  text NOT NULL DEFAULT '{}',
    impersonated_user text NOT NULL DEFAULT '',
    impersonated_groups_json text NOT NULL DEFAULT '[]',
    source_ips_json  text NOT NULL DEFAULT '[]',
    user_agent       text NOT NULL DEFAULT '',
    authz_decision   text NOT NULL DEFAULT '',
    authz_reason     text NOT NULL DEFAULT '',
    response_code    integer NOT NULL DEFAULT 0,
    response_message text NOT NULL DEFAULT '',
    received_ns      bigint NOT NULL,
    started_ns       bigint,
    completed_ns     bigint,
    state            text NOT NULL CHECK (state IN
                     ('pending', 'matched', 'ambiguous', 'unrecorded', 'denied', 'failed', 'observed')),
    session_id       text,
    updated_ns       bigint NOT NULL
);
CREATE INDEX exec_requests_state ON exec_requests (state, received_ns);
CREATE INDEX exec_requests_received ON exec_requests (received_ns DESC, id);
CREATE INDEX exec_requests_session ON exec_requests (session_id);

CREATE TABLE session_candidates (
    session_id text NOT NULL,
    request_id text NOT NULL,
    PRIMARY KEY (session_id, request_id)
);

-- Export: one row per exportable record. `id` is insertion order, which is not commit order
-- when several replicas insert; `position` is assigned by the one exporting replica (under its
-- advisory lock) to committed rows only, so `position > cursor` never skips a row.
CREATE TABLE export_outbox (
    id         bigserial PRIMARY KEY,
    position   bigint UNIQUE,
    session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    kind       integer NOT NULL,
    seq        integer NOT NULL DEFAULT 0,
    noted_ns   bigint NOT NULL,
    UNIQUE (session_id, kind, seq)
);
CREATE INDEX export_outbox_unpositioned ON export_outbox (id) WHERE position IS NULL;
CREATE TABLE export_cursor (
    name       text PRIMARY KEY,
    position   bigint NOT NULL,
    updated_ns bigint NOT NULL
);

-- Every node that uploads: its heartbeat, the pods it hosts and how far its upload is complete
-- (`unrecorded` waits for the node hosting the pod to pass the request's window).
CREATE TABLE nodes (
    name                text PRIMARY KEY,
    first_seen_ns       bigint NOT NULL,
    last_heartbeat_ns   bigint NOT NULL DEFAULT 0,
    uploaded_through_ns bigint NOT NULL DEFAULT 0,
    backlog_records     bigint NOT NULL DEFAULT 0,
    pods_json           text NOT NULL DEFAULT '[]'
);
)sql",

    // v2: tamper evidence as the node computed it (docs/integrity.md): each command's and chunk's
    // place in its session's hash chain and the hash there; the session's start hash, head, the
    // records it covers and its signature. Stored as uploaded, so `verify` checks the cluster's copy.
    R"sql(
ALTER TABLE commands ADD COLUMN chain_index bigint;
ALTER TABLE commands ADD COLUMN chain_hash bytea;
ALTER TABLE io_chunks ADD COLUMN chain_index bigint;
ALTER TABLE io_chunks ADD COLUMN chain_hash bytea;
ALTER TABLE sessions ADD COLUMN chain_start bytea;
ALTER TABLE sessions ADD COLUMN chain_head bytea;
ALTER TABLE sessions ADD COLUMN chain_records bigint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN head_signature bytea;
ALTER TABLE sessions ADD COLUMN signing_key text NOT NULL DEFAULT '';
)sql",

    // v3: uploads and correlation (collector/): where each node's spool stands. A node's spool positions grow in
    // its commit order; the collector commits a batch and the position it reached in one
    // transaction, so a batch sent again (its acknowledgement was lost) or replayed is recognised
    // and changes nothing. A node whose disk was replaced starts a new spool.
    R"sql(
CREATE TABLE upload_streams (
    node           text NOT NULL,    -- the name its certificate proves
    spool_id       text NOT NULL,
    acked_position bigint NOT NULL DEFAULT 0,
    first_seen_ns  bigint NOT NULL,
    updated_ns     bigint NOT NULL,
    PRIMARY KEY (node, spool_id)
);
-- Correlation at the collector: any replica stores webhook stages; the leader feeds them to the
-- correlator and marks them, in the transaction that stores what it decided.
ALTER TABLE audit_events ADD COLUMN fed boolean NOT NULL DEFAULT false;
CREATE INDEX audit_events_unfed ON audit_events (received_ns) WHERE NOT fed;
CREATE INDEX sessions_pending ON sessions (start_ns) WHERE attribution = 'pending';
)sql",

    // v4: the node's kubelet judgement of each ended exec session (storage/records.h KubeletCheck,
    // as JSON; NULL: not judged), written once, as the node that owns the session uploaded it. The
    // leader's correlator decides by it only for a session no API request explains (issue 17).
    R"sql(
ALTER TABLE sessions ADD COLUMN kubelet_check text;
)sql",

    // v5: which workload (issue 17, docs/pods.md): what the API server said of the session's pod
    // when it started, as the node uploaded it, and the cluster's name (the collector's own when
    // it has one). pod_labels NULL: the node did not know the pod; the other pod columns are then
    // NULL too. Labels are JSON text; `sessions --label` finds them through a GIN index.
    R"sql(
ALTER TABLE sessions ADD COLUMN pod_labels text;
ALTER TABLE sessions ADD COLUMN pod_labels_dropped bigint NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN owner_kind text;
ALTER TABLE sessions ADD COLUMN owner_name text;
ALTER TABLE sessions ADD COLUMN workload_kind text;
ALTER TABLE sessions ADD COLUMN workload_name text;
ALTER TABLE sessions ADD COLUMN service_account text;
ALTER TABLE sessions ADD COLUMN cluster text;
CREATE INDEX sessions_workload ON sessions (workload_name, workload_kind);
CREATE INDEX sessions_labels ON sessions USING gin ((pod_labels::jsonb));
)sql",

    // v6: retention on the cluster store (issue 15, docs/retention.md "For the collector"), the
    // same meaning as the node's SQLite v9. A legal hold keeps a session from every deletion (no
    // cascade: the database refuses to delete a held session's row); every hold and release is
    // logged. The ledger is one hash chain of every session the collector first stored and every
    // session its retention deleted (the tombstone's digest); its head row is locked by each
    // append, so replicas ingesting at once append one after the other, and a position is never
    // given twice (a removed newest entry leaves a hole the next one shows). Records that arrive
    // for a tombstoned session (a node replaying its spool) are ignored, never re-inserted.
    // Sessions stored before v6 are entered into the ledger by the migration (unsigned).
    R"sql(
CREATE TABLE session_holds (
    session_id text PRIMARY KEY REFERENCES sessions (id),  -- no cascade: a held session is never deleted
    reason     text NOT NULL,
    held_by    text NOT NULL,
    held_ns    bigint NOT NULL
);
CREATE TABLE hold_log (
    id         bigserial PRIMARY KEY,
    session_id text NOT NULL,
    action     text NOT NULL CHECK (action IN ('hold', 'release')),
    reason     text NOT NULL,
    actor      text NOT NULL,
    time_ns    bigint NOT NULL
);
CREATE INDEX hold_log_session ON hold_log (session_id, id);

CREATE TABLE session_ledger (
    position    bigint PRIMARY KEY,
    session_id  text NOT NULL,
    kind        smallint NOT NULL CHECK (kind IN (1, 2)),  -- 1 recorded, 2 deleted by policy
    time_ns     bigint NOT NULL,  -- recorded: the session's start; deleted: when its deletion began
    digest      bytea NOT NULL,   -- recorded: the node's chain start (empty: none); deleted: the tombstone's digest
    hash        bytea NOT NULL,   -- SHA-256 over the previous entry's hash and this entry
    signature   bytea,            -- Ed25519 over the hash (the collector's key; NULL: unsigned)
    signing_key text NOT NULL DEFAULT '',
    UNIQUE (session_id, kind)
);
-- The newest position and hash: one row, locked (FOR UPDATE) by every append.
CREATE TABLE session_ledger_head (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    position bigint NOT NULL,
    hash     bytea
);
INSERT INTO session_ledger_head (position) VALUES (0);

CREATE TABLE session_tombstones (
    session_id     text PRIMARY KEY,
    node           text NOT NULL,
    namespace      text NOT NULL,
    pod            text NOT NULL,
    container      text NOT NULL,
    username       text,
    attribution    text NOT NULL,
    status         text NOT NULL,
    start_ns       bigint NOT NULL,
    end_ns         bigint,
    commands       bigint NOT NULL,
    output_bytes   bigint NOT NULL,
    lost_bytes     bigint NOT NULL,
    chain_head     bytea NOT NULL,
    chain_records  bigint NOT NULL,
    head_signature bytea NOT NULL,
    signing_key    text NOT NULL,
    cause          text NOT NULL CHECK (cause IN ('age', 'size')),
    rule           text NOT NULL,     -- as configured: "retention-days 30", "retention-namespace prod-*=400", ...
    deleted_ns     bigint NOT NULL,   -- when the deletion began
    completed_ns   bigint,            -- when its last row went; NULL: still being deleted
    stored_bytes   bigint NOT NULL DEFAULT 0  -- its terminal data as stored (compressed)
);
CREATE INDEX session_tombstones_start ON session_tombstones (start_ns);
CREATE INDEX session_tombstones_unfinished ON session_tombstones (session_id) WHERE completed_ns IS NULL;
CREATE INDEX sessions_ended ON sessions ((coalesce(end_ns, nullif(last_activity_ns, 0), start_ns)), id) WHERE status <> 'open';

-- A late upload of a deleted session, command or chunk is dropped by the database itself.
CREATE FUNCTION execaudit_session_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM session_tombstones WHERE session_id = NEW.id) THEN RETURN NULL; END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION execaudit_record_of_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM session_tombstones WHERE session_id = NEW.session_id) THEN RETURN NULL; END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER sessions_deleted_not_again BEFORE INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION execaudit_session_deleted();
CREATE TRIGGER commands_of_deleted_ignored BEFORE INSERT ON commands
    FOR EACH ROW EXECUTE FUNCTION execaudit_record_of_deleted();
CREATE TRIGGER chunks_of_deleted_ignored BEFORE INSERT ON io_chunks
    FOR EACH ROW EXECUTE FUNCTION execaudit_record_of_deleted();
)sql",

    // v7: the collector's seal (issue 15, docs/cluster.md "Tamper evidence on arrival"): when a
    // session's end arrives and its records verify against the node's own chain, the collector
    // seals that head (sealed_ns) and, with `collect --signing-key`, countersigns it. A sealed
    // session's head, commands and chunks never change again, whatever its node sends later.
    R"sql(
ALTER TABLE sessions ADD COLUMN sealed_ns bigint;
ALTER TABLE sessions ADD COLUMN collector_signature bytea;
ALTER TABLE sessions ADD COLUMN collector_key text NOT NULL DEFAULT '';
)sql",

    // v8: what each session holds (issue 15, `collect --max-db-size`, docs/retention.md "For the
    // collector"): PostgreSQL reuses the space of deleted rows but does not return it, so
    // pg_database_size never shrinks by retention; the bound is on SUM(stored_bytes) instead,
    // kept up at ingest (storage/postgres/pg_writer.cpp): each terminal chunk's data as stored
    // plus, per command, 200 bytes and twice its argv (argv, argv_text) and its file names. The
    // sessions stored before v8 are counted from their rows here, with the same formula.
    R"sql(
ALTER TABLE sessions ADD COLUMN stored_bytes bigint NOT NULL DEFAULT 0;
UPDATE sessions s SET stored_bytes =
    coalesce((SELECT sum(octet_length(k.data)) FROM io_chunks k WHERE k.session_id = s.id), 0) +
    coalesce((SELECT sum(200 + 2 * octet_length(m.argv) + octet_length(m.filename) + octet_length(m.exe_path))
              FROM commands m WHERE m.session_id = s.id), 0);
)sql",
};

}  // namespace

int current_schema_version() { return static_cast<int>(kMigrations.size()); }

int schema_version(Connection& c) {
    auto exists = c.exec("SELECT to_regclass('execaudit_schema') IS NOT NULL");
    if (!exists.boolean(0, 0)) return 0;
    auto r = c.exec("SELECT coalesce(max(version), 0) FROM execaudit_schema");
    return static_cast<int>(r.int64(0, 0));
}

void migrate(Connection& c) {
    Transaction tx(c);
    c.exec("SELECT pg_advisory_xact_lock($1)", {num(kMigrationLock)});
    c.exec("CREATE TABLE IF NOT EXISTS execaudit_schema (version integer PRIMARY KEY, applied_ns bigint NOT NULL)");
    int version = schema_version(c);
    if (version > current_schema_version())
        throw UsageError(fmt::format("{} was written by a newer execaudit (schema v{}, this build knows v{})", c.label(),
                                     version, current_schema_version()));
    for (int v = version; v < current_schema_version(); ++v) {
        c.exec_script(kMigrations[static_cast<size_t>(v)]);
        if (v + 1 == kLedgerVersion) {
            // sessions stored before the ledger existed: entered now, oldest first (unsigned)
            if (size_t n = backfill_ledger(c, nullptr)) log::info("{}: {} stored sessions entered into the new session ledger", c.label(), n);
        }
        c.exec("INSERT INTO execaudit_schema (version, applied_ns) VALUES ($1, "
               "(extract(epoch FROM clock_timestamp()) * 1e9)::bigint)",
               {num(int64_t{v + 1})});
    }
    tx.commit();
}

void check_schema(Connection& c) {
    int version = schema_version(c);
    if (version == 0)
        throw UsageError(fmt::format("{} holds no execaudit data (no schema; `execaudit collect` creates it)", c.label()));
    if (version > current_schema_version())
        throw UsageError(fmt::format("{} was written by a newer execaudit (schema v{}, this build knows v{})", c.label(),
                                     version, current_schema_version()));
    if (version < current_schema_version())
        throw UsageError(fmt::format("{} has schema v{}; this execaudit reads v{} (upgrade the collector first)", c.label(),
                                     version, current_schema_version()));
}

}  // namespace execaudit::storage::pg
