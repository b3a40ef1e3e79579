#include "storage/chain_verify.h"

#include "storage/session_chain.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace execaudit::storage {

const char* integrity_name(Integrity i) {
    switch (i) {
        case Integrity::intact: return "intact";
        case Integrity::open: return "open";
        case Integrity::unchained: return "unchained";
        case Integrity::altered: return "ALTERED";
        case Integrity::removed: return "REMOVED";
        case Integrity::reordered: return "REORDERED";
        case Integrity::truncated: return "TRUNCATED";
        case Integrity::unsealed: return "UNSEALED";
        case Integrity::unsigned_head: return "UNSIGNED";
        case Integrity::bad_signature: return "RE-SIGNED";
        case Integrity::deleted: return "deleted";
    }
    return "?";
}

bool integrity_failed(Integrity i) {
    return i != Integrity::intact && i != Integrity::open && i != Integrity::unchained && i != Integrity::deleted;
}

namespace {

// Walks the records in chain order as the store delivers them (commands by index, chunks by
// seq, merged), and keeps the first problem.
class ChainWalk {
public:
    explicit ChainWalk(const ChainHash& start) : hash_(start) {}

    template <typename Compute>
    void record(const std::string& what, std::optional<uint64_t> index, const std::string& stored, Compute compute) {
        if (!index) return fail(Integrity::altered, what + " has no place in the chain (added afterwards?)");
        if (missing_) {
            // already failing: only tell a reordered record from a removed one
            if (*index == *missing_) {
                verdict_ = Integrity::reordered;
                detail_ = fmt::format("{} (record {}) is out of order: stored after {}", what, *index, missing_before_);
                missing_.reset();
            }
            return;
        }
        if (failed()) return;
        if (*index < next_) {
            return fail(Integrity::reordered, fmt::format("{} (record {}) is out of order: stored after record {}", what,
                                                          *index, next_ - 1));
        }
        if (*index > next_) {
            missing_ = next_;
            missing_before_ = fmt::format("{} (record {})", what, *index);
            return fail(Integrity::removed, fmt::format("record {} is missing (the next stored is {} (record {}))", next_,
                                                        what, *index));
        }
        ChainHash h = compute(hash_);
        if (to_bytes(h) != stored)
            return fail(Integrity::altered, fmt::format("{} (record {}) does not match the chain: its content was altered",
                                                        what, *index));
        hash_ = h;
        last_ = what;
        ++next_;
    }
    void fail(Integrity v, std::string detail) {
        if (failed()) return;
        verdict_ = v;
        detail_ = std::move(detail);
    }
    bool failed() const { return verdict_ != Integrity::intact; }
    uint64_t count() const { return next_ - 1; }
    const ChainHash& hash() const { return hash_; }
    const std::string& last() const { return last_; }
    Integrity verdict() const { return verdict_; }
    const std::string& detail() const { return detail_; }

private:
    ChainHash hash_;
    uint64_t next_ = 1;
    std::string last_ = "the start";
    Integrity verdict_ = Integrity::intact;
    std::string detail_;
    std::optional<uint64_t> missing_;
    std::string missing_before_;
};

}  // namespace

SessionIntegrity verify_session(SessionReader& store, const SessionRecord& s, const HeadVerifier* key) {
    SessionIntegrity out;
    if (s.chain_start.empty()) {
        out.verdict = Integrity::unchained;
        out.detail = "recorded before hash chains: cannot be checked";
        return out;
    }
    ChainHash start = chain_start(s);
    if (to_bytes(start) != s.chain_start) {
        out.verdict = Integrity::altered;
        out.detail = "its start (id, boot, cgroup, leader, start time) does not match the chain";
        return out;
    }
    ChainWalk walk(start);
    std::map<uint64_t, CommandRecord> commands;
    for (auto& c : store.commands(s.id)) {
        if (!c.chain_index) {
            walk.fail(Integrity::altered, fmt::format("command {} has no place in the chain (added afterwards?)", c.seq));
            continue;
        }
        uint64_t at = *c.chain_index;
        if (!commands.emplace(at, std::move(c)).second)
            walk.fail(Integrity::altered, fmt::format("two commands claim record {}", at));
    }
    auto next_command = commands.begin();
    auto walk_commands_before = [&](uint64_t index) {
        for (; next_command != commands.end() && next_command->first < index; ++next_command) {
            const CommandRecord& c = next_command->second;
            walk.record(fmt::format("command {}", c.seq), c.chain_index, c.chain_hash,
                        [&](const ChainHash& prev) { return chain_command(prev, c); });
        }
    };
    auto read = store.for_each_chunk(s.id, [&](const ChunkRecord& k) {
        walk_commands_before(k.chain_index.value_or(0));
        out.bytes += k.frames_data.size();
        walk.record(fmt::format("chunk {}", k.seq), k.chain_index, k.chain_hash,
                    [&](const ChainHash& prev) { return chain_chunk(prev, k); });
    });
    walk_commands_before(UINT64_MAX);
    if (!read) walk.fail(Integrity::altered, "a chunk cannot be read: " + read.error());
    out.records = walk.count();
    if (walk.failed()) {
        out.verdict = walk.verdict();
        out.detail = walk.detail();
        return out;
    }
    if (s.status == "open") {
        out.verdict = Integrity::open;
        out.detail = fmt::format("still recording; the {} records stored so far match", out.records);
        return out;
    }
    if (s.chain_head.empty()) {
        out.verdict = Integrity::unsealed;
        out.detail = fmt::format("{} without its head (removed?): {} records match, completeness cannot be shown", s.status,
                                 out.records);
        return out;
    }
    if (walk.count() < s.chain_records) {
        out.verdict = Integrity::truncated;
        out.detail = fmt::format("the head covers {} records, {} are stored: records {}..{} after {} are gone",
                                 s.chain_records, walk.count(), walk.count() + 1, s.chain_records, walk.last());
        return out;
    }
    if (walk.count() > s.chain_records) {
        out.verdict = Integrity::altered;
        out.detail = fmt::format("{} records are stored, the head covers {}: records were added after it", walk.count(),
                                 s.chain_records);
        return out;
    }
    if (to_bytes(chain_head(walk.hash(), s, walk.count())) != s.chain_head) {
        out.verdict = Integrity::altered;
        out.detail = "its end (status, exit code, pod, counters) does not match the head";
        return out;
    }
    // Signatures: the node's over its head, and in the cluster store the collector's
    // countersignature over the head it sealed. With keys given, each signature whose key is among
    // them must verify, and at least one must have been checked.
    bool countersigned = !s.collector_signature.empty();
    std::string checked;
    if (key) {
        if (countersigned && key->holds(s.collector_key)) {
            if (!key->verify_with(s.collector_key,
                                  countersign_message(s.node, s.id, s.chain_head, s.chain_records, s.sealed_ns),
                                  s.collector_signature)) {
                out.verdict = Integrity::bad_signature;
                out.detail = fmt::format("the collector's countersignature (key {}) does not verify: the session was changed "
                                         "in the cluster store after the collector sealed it",
                                         s.collector_key);
                return out;
            }
            checked = ", countersigned by the collector's key " + s.collector_key;
        }
        if (!s.head_signature.empty() && key->holds(s.signing_key)) {
            if (!key->verify_with(s.signing_key, head_message(s.id, s.chain_head), s.head_signature)) {
                out.verdict = Integrity::bad_signature;
                out.detail = fmt::format("the head's signature does not verify with key {}", s.signing_key);
                return out;
            }
            checked = ", signed by key " + s.signing_key + checked;
        }
        if (checked.empty()) {
            if (s.head_signature.empty() && !countersigned) {
                out.verdict = Integrity::unsigned_head;
                out.detail = "the head carries no signature (recorded without --signing-key, or the signature was removed)";
            } else {
                out.verdict = Integrity::bad_signature;
                out.detail = fmt::format("the head is signed by key {}, not by the given key {}",
                                         s.head_signature.empty() ? s.collector_key : s.signing_key, key->key_id());
            }
            return out;
        }
    } else {
        checked = s.head_signature.empty() ? ", unsigned" : ", signed by key " + s.signing_key + " (not checked: no --public-key)";
        if (countersigned) checked += ", countersigned by the collector's key " + s.collector_key + " (not checked)";
        else if (s.sealed_ns) checked += ", sealed by the collector (unsigned)";
    }
    out.detail = fmt::format("{} records{}", out.records, checked);
    return out;
}

}  // namespace execaudit::storage
