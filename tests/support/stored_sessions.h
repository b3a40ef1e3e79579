#pragma once
// Sessions, commands and terminal chunks written through the real writer thread: the database
// a test of the read side (CLI, replay, export) starts from.

#include "proto/upload_wire.h"
#include "storage/io_frames.h"
#include "storage/store_writer.h"

#include <string>
#include <vector>

namespace execaudit::testing {

inline constexpr int64_t kSecondNs = 1'000'000'000;
inline constexpr int64_t kT0Ns = 1'730'204'504'189'258'000;  // 2024-10-29T12:21:44.189258Z

/// An open tty session in shop/web (container app, 24x80) started at `start_ns`.
storage::SessionRecord sample_session(const std::string& id, int64_t start_ns, std::vector<std::string> command = {"/bin/bash"});
/// Command `seq` of a session, at start + seq seconds.
storage::CommandRecord sample_command(const storage::SessionRecord& s, uint32_t seq, std::vector<std::string> argv,
                                      int32_t retval = 0);

/// Chunk `seq` of a session: `output` as one output frame at offset 0, encoded as the writer does.
storage::StoredChunkRecord sample_chunk(const std::string& session_id, uint32_t seq, const std::string& output);
/// An upload batch from `node`'s spool `spool_id` holding `records` as they are (positions included).
upload::Batch sample_batch(const std::string& node, const std::string& spool_id, std::vector<upload::v1::UploadRecord> records);

/// Writes ops through a StoreWriter of its own (and waits until they are committed).
void write_ops(const std::string& db_path, std::vector<storage::WriteOp> ops);

/// A complete session: start, `commands` commands ("/bin/echo N"), end with exit code 0.
void write_finished_session(const std::string& db_path, const std::string& id, int64_t start_ns, int commands);

}  // namespace execaudit::testing
