// libFuzzer target: one ring-buffer record as the BPF programs submit it (recorder/capture/
// event_decoder). A record is bytes from the kernel side, whose contents the recorded person
// shapes (argv, filenames, terminal data); its lengths must never be trusted.
#include "recorder/capture/event_decoder.h"
#include "tests/fuzz/fuzz_check.h"

#include <variant>

using namespace execaudit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A copy of exactly `size` bytes, so ASan sees any read past the record.
    std::vector<std::byte> record(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
    std::string_view whole(reinterpret_cast<const char*>(record.data()), record.size());
    auto event = recorder::decode_event(record);
    if (!event) return 0;
    fuzz::check(recorder::header_of(*event).size <= size, "decoded header size beyond the record");
    if (auto* e = std::get_if<recorder::ExecEvent>(&*event)) {
        for (auto s : {e->comm, e->parent_comm, e->filename}) fuzz::check(fuzz::within(s, whole), "exec string outside the record");
        for (auto a : e->argv) fuzz::check(fuzz::within(a, whole), "argv element outside the record");
    } else if (auto* r = std::get_if<recorder::ExecResultEvent>(&*event)) {
        fuzz::check(r->exe_path.empty() || fuzz::within(r->exe_path, whole), "exe path outside the record");
    } else if (auto* io = std::get_if<recorder::TtyIoEvent>(&*event)) {
        fuzz::check(fuzz::within(io->data, whole), "terminal data outside the record");
    }
    return 0;
}
