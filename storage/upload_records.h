#pragma once
// Stored records <-> what a node uploads (proto/upload.proto), field for field and byte for byte,
// so the collector stores exactly what the node's hash chain covers.

#include "proto/upload_wire.h"
#include "storage/records.h"

namespace execaudit::storage {

upload::v1::UploadSession to_upload(const SessionRecord& s);
upload::v1::UploadCommand to_upload(const CommandRecord& c);
upload::v1::UploadChunk to_upload(const StoredChunkRecord& k);

SessionRecord from_upload(const upload::v1::UploadSession& s);
CommandRecord from_upload(const upload::v1::UploadCommand& c);
StoredChunkRecord from_upload(const upload::v1::UploadChunk& k);

}  // namespace execaudit::storage
