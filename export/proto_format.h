#pragma once
// Length-delimited protobuf: each message as varint(length) then its binary encoding, the
// framing of protobuf's writeDelimitedTo / SerializeDelimitedToOstream, so every protobuf
// library can read the stream back (google::protobuf::util::ParseDelimitedFromZeroCopyStream).

#include <google/protobuf/message_lite.h>

#include <string>

namespace execaudit::exporting {

/// One message, length-prefixed.
std::string length_delimited(const google::protobuf::MessageLite& message);

}  // namespace execaudit::exporting
