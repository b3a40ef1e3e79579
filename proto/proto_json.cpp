#include "proto_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <stdexcept>

namespace execaudit::proto {
namespace {

using google::protobuf::FieldDescriptor;

void number_64bit(nlohmann::json& value, const FieldDescriptor* field) {
    if (!value.is_string()) return;
    const std::string& s = value.get_ref<const std::string&>();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) value = std::stoull(s);
    else value = std::stoll(s);
}

void adjust(nlohmann::json& obj, const google::protobuf::Message& message) {
    const auto* descriptor = message.GetDescriptor();
    const auto* reflection = message.GetReflection();
    for (int i = 0; i < descriptor->field_count(); ++i) {
        const FieldDescriptor* field = descriptor->field(i);
        const std::string& name = field->name();
        if (field->has_presence() && !field->is_repeated() && !field->real_containing_oneof() &&
            field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE && !reflection->HasField(message, field)) {
            obj[name] = nullptr;
            continue;
        }
        if (!obj.contains(name)) continue;
        auto& value = obj[name];
        bool is64 = field->cpp_type() == FieldDescriptor::CPPTYPE_INT64 ||
                    field->cpp_type() == FieldDescriptor::CPPTYPE_UINT64;
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
            if (field->is_repeated()) {
                for (int k = 0; k < reflection->FieldSize(message, field) && k < static_cast<int>(value.size()); ++k)
                    adjust(value[static_cast<size_t>(k)], reflection->GetRepeatedMessage(message, field, k));
            } else if (value.is_object()) {
                adjust(value, reflection->GetMessage(message, field));
            }
        } else if (is64) {
            if (field->is_repeated()) {
                for (auto& v : value) number_64bit(v, field);
            } else {
                number_64bit(value, field);
            }
        }
    }
    // A field whose proto name cannot be its JSON name (Session.workload_ref: `workload`) says so
    // with json_name; protobuf's parser reads that name back.
    for (int i = 0; i < descriptor->field_count(); ++i) {
        const FieldDescriptor* field = descriptor->field(i);
        if (!field->has_json_name() || !obj.contains(field->name())) continue;
        obj[field->json_name()] = std::move(obj[field->name()]);
        obj.erase(field->name());
    }
}

}  // namespace

nlohmann::json to_json(const google::protobuf::Message& message) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    std::string text;
    auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
    if (!status.ok()) throw std::runtime_error("protobuf JSON: " + status.ToString());
    auto obj = nlohmann::json::parse(text);
    adjust(obj, message);
    return obj;
}

}  // namespace execaudit::proto
