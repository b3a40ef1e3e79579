#include "storage/session_chain.h"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

namespace execaudit::storage {
namespace {

// Record types in the canonical bytes (docs/integrity.md). Frozen.
constexpr uint8_t kStart = 1, kCommand = 2, kChunk = 3, kEnd = 4;
constexpr std::string_view kDomain{"execaudit chain v1\0", 19};

/// SHA-256 fed field by field in the canonical encoding: integers 8 bytes big-endian, strings
/// their length so, then their bytes; an optional a byte 0/1 then its value; a bool one byte.
class Canonical {
public:
    Canonical() : ctx_(EVP_MD_CTX_new()) {
        if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 unavailable");
    }
    Canonical& raw(std::string_view bytes) {
        EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
        return *this;
    }
    Canonical& u8(uint8_t v) { return raw(std::string_view(reinterpret_cast<const char*>(&v), 1)); }
    Canonical& u64(uint64_t v) {
        char b[8];
        for (int i = 7; i >= 0; --i, v >>= 8) b[i] = static_cast<char>(v & 0xFF);
        return raw(std::string_view(b, 8));
    }
    Canonical& i64(int64_t v) { return u64(static_cast<uint64_t>(v)); }
    Canonical& flag(bool v) { return u8(v ? 1 : 0); }
    Canonical& bytes(std::string_view v) { return u64(v.size()).raw(v); }
    Canonical& list(const std::vector<std::string>& v) {
        u64(v.size());
        for (const auto& s : v) bytes(s);
        return *this;
    }
    template <typename T>
    Canonical& optional(const std::optional<T>& v) {
        flag(v.has_value());
        if (v) i64(static_cast<int64_t>(*v));
        return *this;
    }
    Canonical& hash(const ChainHash& h) { return raw(std::string_view(reinterpret_cast<const char*>(h.data()), h.size())); }
    ChainHash done() {
        ChainHash out{};
        unsigned int n = 0;
        EVP_DigestFinal_ex(ctx_.get(), out.data(), &n);
        return out;
    }

private:
    struct Free {
        void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    };
    std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

}  // namespace

ChainHash chain_start(const SessionRecord& s) {
    Canonical c;
    c.raw(kDomain).u8(kStart).bytes(s.id).bytes(s.boot_id).u64(s.cgroup_id).u64(s.leader_pid).u64(s.leader_start_ns);
    c.i64(s.start_ns).u64(s.start_boot_ns).flag(s.start_lost);
    return c.done();
}

ChainHash chain_command(const ChainHash& prev, const CommandRecord& r) {
    Canonical c;
    c.hash(prev).u8(kCommand).u64(r.seq).i64(r.time_ns).u64(r.boot_ns).u64(r.pid).u64(r.ppid).u64(r.ns_pid);
    c.u64(r.uid).u64(r.gid).bytes(r.filename).list(r.argv).optional(r.retval).flag(r.argv_truncated);
    c.bytes(r.exe_path).u64(r.exe_ino).u64(r.exe_dev).flag(r.exe_fileless);
    return c.done();
}

ChainHash chain_chunk(const ChainHash& prev, const ChunkRecord& r) {
    Canonical c;
    c.hash(prev).u8(kChunk).u64(r.seq).u64(r.first_offset_us).u64(r.last_offset_us).u64(r.frames);
    c.u64(r.output_bytes).u64(r.input_bytes).bytes(r.frames_data);
    return c.done();
}

ChainHash chain_head(const ChainHash& prev, const SessionRecord& s, uint64_t records) {
    Canonical c;
    c.hash(prev).u8(kEnd).bytes(s.status).optional(s.end_ns).optional(s.exit_code).optional(s.exit_signal);
    c.bytes(s.namespace_name).bytes(s.pod).bytes(s.pod_uid).bytes(s.container).bytes(s.container_id).bytes(s.cgroup_path);
    c.list(s.command).flag(s.tty).u64(s.commands).u64(s.output_bytes).u64(s.input_bytes).u64(s.lost_bytes);
    c.u64(s.lost_events).u64(s.rows).u64(s.cols).u64(records);
    return c.done();
}

ChainHash ledger_hash(const ChainHash& prev, int64_t position, int kind, const std::string& session_id, int64_t time_ns,
                      std::string_view digest) {
    static constexpr std::string_view kLedgerDomain{"execaudit ledger v1\0", 20};
    Canonical c;
    c.raw(kLedgerDomain).hash(prev).i64(position).u8(static_cast<uint8_t>(kind)).bytes(session_id).i64(time_ns).bytes(digest);
    return c.done();
}

std::string ledger_message(int64_t position, std::string_view hash) {
    std::string m("execaudit ledger entry v1");
    m += '\0';
    m += std::to_string(position);
    m += '\0';
    m += hash;
    return m;
}

ChainHash tombstone_digest(const TombstoneRecord& t) {
    static constexpr std::string_view kTombDomain{"execaudit tombstone v1\0", 23};
    Canonical c;
    c.raw(kTombDomain).bytes(t.session_id).bytes(t.node).bytes(t.namespace_name).bytes(t.pod).bytes(t.container);
    c.i64(t.start_ns).optional(t.end_ns).bytes(t.status).bytes(t.chain_head).u64(t.chain_records);
    c.bytes(t.cause).bytes(t.rule).i64(t.deleted_ns);
    return c.done();
}

std::string head_message(const std::string& session_id, std::string_view head) {
    std::string m(kHeadContext);
    m += '\0';
    m += session_id;
    m += '\0';
    m += head;
    return m;
}

std::string countersign_message(const std::string& node, const std::string& session_id, std::string_view head,
                                uint64_t records, int64_t sealed_ns) {
    static constexpr std::string_view kDomain{"execaudit collector countersignature v1\0", 40};
    Canonical c;
    c.raw(kDomain).bytes(node).bytes(session_id).bytes(head).u64(records).i64(sealed_ns);
    return to_bytes(c.done());
}

std::string to_bytes(const ChainHash& h) { return std::string(reinterpret_cast<const char*>(h.data()), h.size()); }

bool from_bytes(std::string_view bytes, ChainHash& out) {
    if (bytes.size() != out.size()) return false;
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(bytes[i]);
    return true;
}

std::string to_hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char ch : bytes) {
        auto b = static_cast<uint8_t>(ch);
        out += kDigits[b >> 4];
        out += kDigits[b & 15];
    }
    return out;
}

}  // namespace execaudit::storage
