#include "upload_wire.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace execaudit::upload {
namespace {

/// A varint of at most 5 bytes (a frame length fits 32 bits); nullopt when truncated or longer.
std::expected<uint64_t, std::string> read_varint(std::string_view body, size_t& at) {
    uint64_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (at >= body.size()) return std::unexpected("the body ends inside a frame length");
        auto b = static_cast<uint8_t>(body[at++]);
        v |= static_cast<uint64_t>(b & 0x7F) << shift;
        if (!(b & 0x80)) return v;
    }
    return std::unexpected("a frame length longer than 5 bytes");
}

std::expected<std::string_view, std::string> read_frame(std::string_view body, size_t& at, const WireLimits& limits) {
    auto len = read_varint(body, at);
    if (!len) return std::unexpected(len.error());
    if (*len > limits.max_frame) return std::unexpected(fmt::format("a frame of {} bytes (at most {})", *len, limits.max_frame));
    if (*len > body.size() - at)
        return std::unexpected(fmt::format("a frame of {} bytes, but only {} follow", *len, body.size() - at));
    auto frame = body.substr(at, static_cast<size_t>(*len));
    at += static_cast<size_t>(*len);
    return frame;
}

std::expected<void, std::string> check_name(std::string_view what, const std::string& v, const WireLimits& limits) {
    if (v.size() > limits.max_name) return std::unexpected(fmt::format("{} of {} bytes (at most {})", what, v.size(), limits.max_name));
    return {};
}

template <typename Repeated>
std::expected<void, std::string> check_argv(std::string_view what, const Repeated& argv, const WireLimits& limits) {
    if (static_cast<size_t>(argv.size()) > limits.max_argv)
        return std::unexpected(fmt::format("{} with {} elements (at most {})", what, argv.size(), limits.max_argv));
    for (const auto& a : argv)
        if (auto c = check_name(what, a, limits); !c) return c;
    return {};
}

std::expected<void, std::string> check_hash(std::string_view what, const std::string& h) {
    if (!h.empty() && h.size() != 32) return std::unexpected(fmt::format("{} of {} bytes (a SHA-256 is 32)", what, h.size()));
    return {};
}

#define EA_CHECK(expr)                   \
    do {                                 \
        if (auto r_ = (expr); !r_) return r_; \
    } while (0)

/// A pod's labels are its creator's choice: a JSON object of strings, within max_labels_json
/// (the node bounds them far tighter), or the session is malformed.
std::expected<void, std::string> check_pod(const std::string& id, const v1::UploadPod& p, const WireLimits& limits) {
    for (const auto* f : {&p.owner_kind(), &p.owner_name(), &p.workload_kind(), &p.workload_name(), &p.service_account()})
        EA_CHECK(check_name("session " + id + ": a pod's name", *f, limits));
    if (p.labels_json().size() > limits.max_labels_json)
        return std::unexpected(fmt::format("session {}: labels of {} bytes (at most {})", id, p.labels_json().size(),
                                           limits.max_labels_json));
    auto labels = nlohmann::json::parse(p.labels_json(), nullptr, false);
    if (!labels.is_object()) return std::unexpected("session " + id + ": labels that are not a JSON object");
    for (const auto& [key, value] : labels.items())
        if (!value.is_string()) return std::unexpected("session " + id + ": a label value that is not a string");
    return {};
}

std::expected<void, std::string> check_session(const v1::UploadSession& s, const WireLimits& limits) {
    if (!valid_session_id(s.id())) return std::unexpected("a session with an invalid id");
    if (s.status() != "open" && s.status() != "ended" && s.status() != "interrupted")
        return std::unexpected(fmt::format("session {}: status '{}'", s.id(), s.status().substr(0, 32)));
    for (const auto* f : {&s.namespace_(), &s.pod(), &s.pod_uid(), &s.container(), &s.container_id(), &s.cgroup_path(),
                          &s.boot_id(), &s.entered_via(), &s.signing_key(), &s.node()})
        EA_CHECK(check_name("session " + s.id() + ": a name", *f, limits));
    EA_CHECK(check_argv("session " + s.id() + ": the command", s.command(), limits));
    EA_CHECK(check_hash("session " + s.id() + ": chain_start", s.chain_start()));
    EA_CHECK(check_hash("session " + s.id() + ": chain_head", s.chain_head()));
    if (s.head_signature().size() > 256) return std::unexpected("session " + s.id() + ": a signature over 256 bytes");
    if (s.start_ns() < 0 || s.last_activity_ns() < 0 || (s.has_end_ns() && s.end_ns() < 0))
        return std::unexpected("session " + s.id() + ": a negative time");
    if (s.has_cluster()) EA_CHECK(check_name("session " + s.id() + ": the cluster name", s.cluster(), limits));
    if (s.has_pod_meta()) EA_CHECK(check_pod(s.id(), s.pod_meta(), limits));
    if (s.has_kubelet()) {
        const auto& k = s.kubelet();
        for (const auto* f : {&k.entered_via(), &k.name(), &k.reason()})
            EA_CHECK(check_name("session " + s.id() + ": the kubelet judgement", *f, limits));
        if (k.kubelet() && k.entered_via() != "probe" && k.entered_via() != "hook")
            return std::unexpected(fmt::format("session {}: a kubelet run entered via '{}' (probe or hook)", s.id(),
                                               k.entered_via().substr(0, 32)));
        if (k.kubelet() && s.tty()) return std::unexpected("session " + s.id() + ": a kubelet run on a tty (the kubelet has none)");
        if (s.status() == "open") return std::unexpected("session " + s.id() + ": judged while open (judged once it ends)");
    }
    return {};
}

std::expected<void, std::string> check_command(const v1::UploadCommand& c, const WireLimits& limits) {
    if (!valid_session_id(c.session_id())) return std::unexpected("a command with an invalid session id");
    std::string what = fmt::format("command {} of session {}", c.seq(), c.session_id());
    EA_CHECK(check_name(what + ": the filename", c.filename(), limits));
    EA_CHECK(check_name(what + ": the executable", c.exe_path(), limits));
    EA_CHECK(check_argv(what + ": argv", c.argv(), limits));
    EA_CHECK(check_hash(what + ": chain_hash", c.chain_hash()));
    if (c.time_ns() < 0) return std::unexpected(what + ": a negative time");
    return {};
}

std::expected<void, std::string> check_chunk(const v1::UploadChunk& k, const WireLimits& limits) {
    if (!valid_session_id(k.session_id())) return std::unexpected("a chunk with an invalid session id");
    std::string what = fmt::format("chunk {} of session {}", k.seq(), k.session_id());
    if (k.encoding() != 0 && k.encoding() != 1) return std::unexpected(fmt::format("{}: encoding {}", what, k.encoding()));
    if (k.raw_size() > limits.max_chunk_raw)
        return std::unexpected(fmt::format("{}: {} bytes once decompressed (at most {})", what, k.raw_size(), limits.max_chunk_raw));
    if (k.encoding() == 0 && k.raw_size() != k.data().size())
        return std::unexpected(fmt::format("{}: raw, {} bytes, but raw_size says {}", what, k.data().size(), k.raw_size()));
    if (k.first_offset_us() > k.last_offset_us()) return std::unexpected(what + ": its first frame after its last");
    EA_CHECK(check_hash(what + ": chain_hash", k.chain_hash()));
    return {};
}

}  // namespace

bool valid_session_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (char c : id)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

bool valid_node_name(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    return alnum(name.front()) && alnum(name.back());
}

std::expected<void, std::string> check_record(const v1::UploadRecord& r, const WireLimits& limits) {
    switch (r.record_case()) {
        case v1::UploadRecord::kSession:
            return check_session(r.session(), limits);
        case v1::UploadRecord::kCommand:
            return check_command(r.command(), limits);
        case v1::UploadRecord::kChunk:
            return check_chunk(r.chunk(), limits);
        case v1::UploadRecord::kHeartbeat:
            if (static_cast<size_t>(r.heartbeat().pods_size()) > limits.max_pods)
                return std::unexpected(fmt::format("a heartbeat with {} pods (at most {})", r.heartbeat().pods_size(),
                                                   limits.max_pods));
            for (const auto& p : r.heartbeat().pods()) EA_CHECK(check_name("a heartbeat's pod", p, limits));
            return {};
        case v1::UploadRecord::RECORD_NOT_SET:
            break;
    }
    return std::unexpected("a record of an unknown kind (a newer node?)");
}

std::expected<Batch, std::string> parse_batch(std::string_view body, const WireLimits& limits) {
    if (body.size() > limits.max_body)
        return std::unexpected(fmt::format("a body of {} bytes (at most {})", body.size(), limits.max_body));
    size_t at = 0;
    Batch batch;
    auto head = read_frame(body, at, limits);
    if (!head) return std::unexpected("the header: " + head.error());
    if (!batch.header.ParseFromArray(head->data(), static_cast<int>(head->size())))
        return std::unexpected("the header is not a BatchHeader");
    if (batch.header.version() != 1)
        return std::unexpected(fmt::format("upload version {} (this collector reads 1)", batch.header.version()));
    if (batch.header.records() > limits.max_records)
        return std::unexpected(fmt::format("{} records in one batch (at most {})", batch.header.records(), limits.max_records));
    // Reserve only what the body can hold: a count alone never allocates.
    batch.records.reserve(std::min<size_t>(batch.header.records(), (body.size() - at) / 2 + 1));
    for (uint32_t i = 0; i < batch.header.records(); ++i) {
        auto frame = read_frame(body, at, limits);
        if (!frame) return std::unexpected(fmt::format("record {}: {}", i, frame.error()));
        v1::UploadRecord r;
        if (!r.ParseFromArray(frame->data(), static_cast<int>(frame->size())))
            return std::unexpected(fmt::format("record {} is not an UploadRecord", i));
        batch.records.push_back(std::move(r));
    }
    if (at != body.size()) return std::unexpected(fmt::format("{} bytes after the last record", body.size() - at));
    return batch;
}

void append_frame(std::string& out, const google::protobuf::MessageLite& message) {
    size_t n = message.ByteSizeLong();
    uint64_t v = n;
    do {
        uint8_t b = v & 0x7F;
        v >>= 7;
        out.push_back(static_cast<char>(v ? b | 0x80 : b));
    } while (v);
    size_t at = out.size();
    out.resize(at + n);
    message.SerializeToArray(out.data() + at, static_cast<int>(n));
}

std::string encode_batch(v1::BatchHeader header, const std::vector<v1::UploadRecord>& records) {
    header.set_version(1);
    header.set_records(static_cast<uint32_t>(records.size()));
    std::string out;
    append_frame(out, header);
    for (const auto& r : records) append_frame(out, r);
    return out;
}

}  // namespace execaudit::upload
