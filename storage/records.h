#pragma once
// What is stored: plain values, shared by the writer (recorder) and the readers (CLI, replay).
// Strings from containers keep their raw bytes here; conversion for display happens on output.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::storage {

/// What the API server said of a session's pod when the session started (docs/pods.md). A
/// session whose pod the recorder did not know (no API access, not listed yet) has none: it is
/// never guessed.
struct PodMetadata {
    std::string labels_json = "{}";  ///< a JSON object of strings, bounded (recorder/pods/pod_metadata.h)
    uint32_t labels_dropped = 0;     ///< labels that bound cut
    std::string owner_kind, owner_name;        ///< the controller ownerReference; empty: none
    std::string workload_kind, workload_name;  ///< what the pod stands for; empty: owners but no controller
    std::string service_account;               ///< empty: the pod named none
    bool operator==(const PodMetadata&) const = default;
};

/// The recorder's judgement of an ended exec session against the pod spec (attribution/kubelet_exec.h):
/// whether it was the kubelet's own probe or hook run. It decides only a session no API request explains.
struct KubeletCheck {
    bool kubelet = false;
    std::string entered_via;  ///< kubelet: "probe" or "hook"
    std::string name;         ///< kubelet: which (liveness, postStart, ...)
    std::string reason;       ///< not the kubelet's but probe-like: why ("" when nothing alike)
    bool operator==(const KubeletCheck&) const = default;
};

/// KubeletCheck as stored (a JSON object), and back; nullopt for anything else.
std::string kubelet_check_json(const KubeletCheck& check);
std::optional<KubeletCheck> kubelet_check_from_json(const std::string& json);

struct SessionRecord {
    std::string id;
    std::string node;
    std::string namespace_name;
    std::string pod;
    std::string pod_uid;
    std::string container;
    std::string container_id;
    uint64_t cgroup_id = 0;
    std::string cgroup_path;
    uint32_t leader_pid = 0;
    uint64_t leader_start_ns = 0;
    std::string boot_id;
    bool tty = false;
    std::vector<std::string> command;  ///< argv of the first command, raw bytes
    int64_t start_ns = 0;              ///< wall clock (UTC), ns since the epoch
    uint64_t start_boot_ns = 0;        ///< CLOCK_BOOTTIME of the same instant
    std::optional<int64_t> end_ns;
    std::string status = "open";  ///< open | ended | interrupted
    std::optional<int32_t> exit_code;
    std::optional<int32_t> exit_signal;
    std::string attribution = "pending";
    std::optional<std::string> user;
    std::string groups_json = "[]";
    std::string source_ips_json = "[]";
    std::string user_agent;
    std::string audit_id;    ///< the auditID (or admission review uid) of the request that named it
    std::string request_id;  ///< that request's key (exec_requests.id); empty before v4
    bool user_verified = true;        ///< false: the identity came from a listener that could not authenticate its sender
    bool argv_prefix_matched = false;  ///< its argv was truncated by the kernel and matched as a prefix
    bool command_truncated = false;    ///< read side: the first command's argv was truncated (commands.argv_truncated)
    uint32_t commands = 0;
    uint64_t output_bytes = 0;
    uint64_t input_bytes = 0;
    uint64_t lost_bytes = 0;
    uint64_t lost_events = 0;
    uint32_t rows = 0;
    uint32_t cols = 0;
    std::string entered_via;
    bool start_lost = false;
    int64_t last_activity_ns = 0;
    uint64_t kernel_session_id = 0;  ///< the BPF programs' number for it (0: before v6), for a restarted recorder
    std::optional<PodMetadata> pod_meta;  ///< nullopt: the pod was not known when it started
    std::optional<std::string> cluster;   ///< --cluster-name of the recorder (the collector's in cluster mode)
    std::optional<KubeletCheck> kubelet;  ///< judged once it ended (an exec session; nullopt: not judged)
    /// How many runs this row stands for (docs/kubelet-execs.md, "Folded runs"): 1, or more once
    /// retention folded the kubelet's identical later runs into it (each a tombstone, cause `folded`).
    uint64_t runs = 1;
    std::optional<int64_t> last_run_ns;   ///< runs > 1: the newest folded run's start
    std::optional<int64_t> run_min_ns, run_max_ns;  ///< runs > 1: the shortest and longest run, its own included
    // Integrity (storage/session_chain.h); empty for sessions recorded before it existed.
    std::string chain_start;     ///< the hash of record 0 (32 bytes)
    std::string chain_head;      ///< once ended or interrupted: the head (32 bytes)
    uint64_t chain_records = 0;  ///< the records the head covers
    std::string head_signature;  ///< Ed25519 over head_message(); empty: unsigned
    std::string signing_key;     ///< the signer's key id (hex)
    // Cluster store only (collector/upload_ingest.h): the collector verified the node's chain on
    // arrival and sealed that head (0: not sealed), with `collect --signing-key` countersigned.
    int64_t sealed_ns = 0;
    std::string collector_signature;  ///< Ed25519 over countersign_message(); empty: sealed unsigned
    std::string collector_key;        ///< the collector's key id (hex)
    // Legal hold (storage/session_holds.h): retention never deletes a held session.
    bool held = false;
    std::string hold_reason, held_by;
    int64_t held_ns = 0;
};

/// What is left of a session retention deleted (storage/retention.h): what it was, its head,
/// when it went and by which rule. Its digest is in the session ledger.
struct TombstoneRecord {
    std::string session_id;
    std::string node, namespace_name, pod, container;
    std::optional<std::string> user;
    std::string attribution;
    std::string status;
    int64_t start_ns = 0;
    std::optional<int64_t> end_ns;
    uint64_t commands = 0, output_bytes = 0, lost_bytes = 0;
    std::string chain_head;  ///< empty: it had none (recorded before hash chains, or never sealed)
    uint64_t chain_records = 0;
    std::string head_signature, signing_key;
    std::string cause;  ///< age | size | folded
    /// as configured: "retention-days 30", "retention-namespace prod-*=400", "max-db-size 10G";
    /// cause folded: "folded into ID" (the row that now counts the run)
    std::string rule;
    int64_t deleted_ns = 0;
    std::optional<int64_t> completed_ns;  ///< nullopt: still being deleted
    uint64_t stored_bytes = 0;
    /// cause folded: the id of the row it was folded into; else empty.
    std::string folded_into() const;
};

/// The rule text of a run folded into `target_id`.
std::string folded_rule(const std::string& target_id);

struct CommandRecord {
    std::string session_id;
    uint32_t seq = 0;
    int64_t time_ns = 0;
    uint64_t boot_ns = 0;
    uint32_t pid = 0;
    uint32_t ppid = 0;
    uint32_t ns_pid = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::string filename;           ///< raw bytes
    std::vector<std::string> argv;  ///< raw bytes
    std::optional<int32_t> retval;  ///< nullopt: the result record was lost
    bool argv_truncated = false;
    /// The executable the kernel loaded (empty path and 0s: the exec failed, or an older recorder).
    std::string exe_path;  ///< raw bytes, from the process's root
    uint64_t exe_ino = 0;
    uint32_t exe_dev = 0;  ///< the kernel's dev_t (major << 20 | minor)
    bool exe_fileless = false;  ///< memfd or deleted file: no name in any directory
    std::optional<uint64_t> chain_index;  ///< its place in the session's hash chain (1..)
    std::string chain_hash;               ///< the chain's hash up to and including it
};

/// argv[0] names something other than the file that was executed (`exec -a`): the basename
/// of argv[0] (a login shell's leading '-' aside) differs from the basename of the filename.
bool argv0_mismatch(const CommandRecord& c);

/// A run of terminal frames (storage/io_frames.h), uncompressed.
struct ChunkRecord {
    std::string session_id;
    uint32_t seq = 0;
    uint64_t first_offset_us = 0;
    uint64_t last_offset_us = 0;
    uint32_t frames = 0;
    uint64_t output_bytes = 0;
    uint64_t input_bytes = 0;
    std::string frames_data;
    std::optional<uint64_t> chain_index;
    std::string chain_hash;
};

/// A chunk as stored (compressed or not): what a node uploads and the collector keeps as is.
struct StoredChunkRecord {
    std::string session_id;
    uint32_t seq = 0;
    uint64_t first_offset_us = 0;
    uint64_t last_offset_us = 0;
    uint32_t frames = 0;
    uint64_t output_bytes = 0;
    uint64_t input_bytes = 0;
    int encoding = 0;       ///< 0 raw, 1 zstd
    uint64_t raw_size = 0;  ///< the frames' size once decompressed
    std::string data;
    std::optional<uint64_t> chain_index;
    std::string chain_hash;
};

/// One stage of an audit event (or one admission review), as received.
struct AuditStageRecord {
    std::string request_id;  ///< the request's key: a reused auditID cannot overwrite another request's stages
    std::string audit_id;
    std::string stage;
    std::string source;  ///< webhook | log | admission
    int64_t received_ns = 0;
    int64_t stage_ns = 0;
    int64_t ingested_ns = 0;
    std::string raw_json;
};

/// Who asked for a request, as authenticated and authorized by the API server.
struct RequesterRecord {
    std::string user;
    std::string user_uid;
    std::string groups_json = "[]";
    std::string user_extra_json = "{}";
    std::string impersonated_user;
    std::string impersonated_groups_json = "[]";
    std::string source_ips_json = "[]";
    std::string user_agent;
    std::string authz_decision;
    std::string authz_reason;
};

/// One exec/attach request with its stages merged, and its correlation state.
struct ExecRequestRecord {
    std::string id;        ///< the key (auditID + "/" + a hash of what its stages share)
    std::string audit_id;  ///< the auditID or the admission review's uid
    std::string source;  ///< audit | admission
    bool verified = true;  ///< false: from a listener that could not authenticate its sender
    std::string kind;
    std::string verb;
    std::string namespace_name, pod, container;
    std::vector<std::string> command;
    bool tty = false, stdin = false;
    RequesterRecord requester;
    int response_code = 0;
    std::string response_message;
    int64_t received_ns = 0;
    std::optional<int64_t> started_ns, completed_ns;
    std::string state = "pending";
    std::optional<std::string> session_id;
    int64_t updated_ns = 0;
};

/// Where the audit log tail stands.
struct LogCursorRecord {
    std::string path;
    uint64_t inode = 0;
    uint64_t offset = 0;
};

}  // namespace execaudit::storage
