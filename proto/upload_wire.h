#pragma once
// The framing of an upload (proto/upload.proto): a POST body is a sequence of frames, each a
// varint length then one message; a BatchHeader first, then its UploadRecords. The reader takes
// any bytes a socket delivers: every length, count and size is bounded before anything is
// allocated, and any violation is an error naming the frame, never a crash. The writer is the
// node's; the reader is the collector's (and the fuzz target's, tests/fuzz/upload_batch_fuzz.cpp).

#include "upload.pb.h"

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::upload {


/// What a batch may hold at most. The node builds batches well inside them.
struct WireLimits {
    size_t max_body = 16u << 20;      ///< bytes of one POST body
    size_t max_frame = 8u << 20;      ///< bytes of one message
    uint32_t max_records = 20'000;    ///< records in one batch
    size_t max_argv = 4096;           ///< elements of one argv
    size_t max_name = 4096;           ///< bytes of one name, path or argv element
    uint64_t max_chunk_raw = 64u << 20;  ///< a chunk's frames once decompressed
    size_t max_pods = 100'000;        ///< pods in one heartbeat
    size_t max_labels_json = 64u << 10;  ///< a session's pod labels (JSON text)
};

struct Batch {
    v1::BatchHeader header;
    std::vector<v1::UploadRecord> records;
};

/// Reads a whole body. The error says which frame is wrong and how.
std::expected<Batch, std::string> parse_batch(std::string_view body, const WireLimits& limits = {});

/// Checks what one record says, beyond its framing: ids, sizes, encodings. The error names it.
std::expected<void, std::string> check_record(const v1::UploadRecord& record, const WireLimits& limits = {});

/// Appends one frame (length, then the message).
void append_frame(std::string& out, const google::protobuf::MessageLite& message);
/// The body of a batch: its header (records set to the count) and its records.
std::string encode_batch(v1::BatchHeader header, const std::vector<v1::UploadRecord>& records);

/// A session id as nodes make them: 1..64 lowercase hexadecimal digits (the readers find ids by hex prefix).
bool valid_session_id(std::string_view id);
/// A node name as Kubernetes allows it: a DNS subdomain (1..253 of [a-z0-9.-], alphanumeric at both ends).
bool valid_node_name(std::string_view name);

}  // namespace execaudit::upload
