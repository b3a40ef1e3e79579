#include "export/proto_format.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace execaudit::exporting {

std::string length_delimited(const google::protobuf::MessageLite& message) {
    std::string out;
    {
        google::protobuf::io::StringOutputStream stream(&out);
        google::protobuf::io::CodedOutputStream coded(&stream);
        coded.WriteVarint32(static_cast<uint32_t>(message.ByteSizeLong()));
        message.SerializeWithCachedSizes(&coded);
    }
    return out;
}

}  // namespace execaudit::exporting
