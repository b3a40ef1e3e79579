// libFuzzer target: a node upload's body (proto/upload_wire.h), which reaches the collector from
// any node certificate's holder in any shape. Every input either parses or is refused with a
// reason; whatever parses passes check_record or is refused too, converts to stored records
// without surprises, and encodes back into a body that parses to the same batch.
#include "proto/upload_wire.h"
#include "storage/upload_records.h"
#include "tests/fuzz/fuzz_check.h"

using namespace execaudit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // small limits, so the fuzzer reaches every bound
    upload::WireLimits limits{.max_body = 1u << 20, .max_frame = 64u << 10, .max_records = 64, .max_argv = 16,
                              .max_name = 256, .max_chunk_raw = 1u << 20, .max_pods = 16};
    auto batch = upload::parse_batch(fuzz::as_text(data, size), limits);
    if (!batch) {
        fuzz::check(!batch.error().empty(), "a refusal without a reason");
        return 0;
    }
    fuzz::check(batch->records.size() == batch->header.records(), "a record count other than the header's");
    fuzz::check(batch->records.size() <= limits.max_records, "more records than the limit");
    for (const auto& r : batch->records) {
        auto ok = upload::check_record(r, limits);
        if (!ok) {
            fuzz::check(!ok.error().empty(), "a refused record without a reason");
            continue;
        }
        if (r.has_session()) {
            auto s = storage::from_upload(r.session());
            fuzz::check(upload::valid_session_id(s.id), "an accepted session with an invalid id");
            fuzz::check(s.command.size() <= limits.max_argv, "an accepted argv over the limit");
        } else if (r.has_command()) {
            auto c = storage::from_upload(r.command());
            fuzz::check(c.argv.size() <= limits.max_argv, "an accepted argv over the limit");
            fuzz::check(c.chain_hash.empty() || c.chain_hash.size() == 32, "an accepted chain hash of another size");
        } else if (r.has_chunk()) {
            auto k = storage::from_upload(r.chunk());
            fuzz::check(k.encoding == 0 || k.encoding == 1, "an accepted chunk of an unknown encoding");
            fuzz::check(k.raw_size <= limits.max_chunk_raw, "an accepted chunk over the size limit");
            fuzz::check(k.encoding != 0 || k.raw_size == k.data.size(), "an accepted raw chunk whose size lies");
        }
    }
    // what was accepted encodes into a body that reads back the same
    std::string again = upload::encode_batch(batch->header, batch->records);
    upload::WireLimits roomy = limits;
    roomy.max_body = again.size() + 1;
    roomy.max_frame = again.size() + 1;
    auto reparsed = upload::parse_batch(again, roomy);
    fuzz::check(reparsed.has_value(), "an accepted batch does not read back");
    fuzz::check(reparsed->records.size() == batch->records.size(), "a batch reads back with another count");
    for (size_t i = 0; i < batch->records.size(); ++i)
        fuzz::check(reparsed->records[i].SerializeAsString() == batch->records[i].SerializeAsString(),
                    "a record reads back different");
    return 0;
}
