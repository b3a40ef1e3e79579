// The upload framing (proto/upload_wire.h) takes whatever a socket delivers: every malformed,
// truncated or oversized body is an error that names what is wrong, never a crash or a huge
// allocation; a well-formed batch reads back exactly as written.
#include "proto/upload_wire.h"

#include <gtest/gtest.h>

namespace execaudit::upload {
namespace {

v1::UploadRecord session_record(uint64_t position, const std::string& id) {
    v1::UploadRecord r;
    r.set_position(position);
    auto* s = r.mutable_session();
    s->set_id(id);
    s->set_node("node-a");
    s->set_status("open");
    s->set_namespace_(std::string("sh\xffop", 5));  // bytes from the node's file system stay bytes
    s->add_command("/bin/bash");
    return r;
}

v1::UploadRecord chunk_record(uint64_t position, const std::string& id, std::string data) {
    v1::UploadRecord r;
    r.set_position(position);
    auto* k = r.mutable_chunk();
    k->set_session_id(id);
    k->set_raw_size(data.size());
    k->set_data(std::move(data));
    return r;
}

std::string sample_body() {
    v1::BatchHeader h;
    h.set_node("node-a");
    h.set_spool_id("0123456789abcdef");
    return encode_batch(h, {session_record(1, "5eed000000000001"), chunk_record(2, "5eed000000000001", "hello\r\n")});
}

TEST(UploadWire, ABatchReadsBackAsWritten) {
    auto batch = parse_batch(sample_body());
    ASSERT_TRUE(batch) << batch.error();
    EXPECT_EQ(batch->header.node(), "node-a");
    EXPECT_EQ(batch->header.records(), 2u);
    ASSERT_EQ(batch->records.size(), 2u);
    EXPECT_EQ(batch->records[0].session().namespace_(), std::string("sh\xffop", 5));
    EXPECT_EQ(batch->records[1].chunk().data(), "hello\r\n");
    for (const auto& r : batch->records) EXPECT_TRUE(check_record(r)) << check_record(r).error();
}

TEST(UploadWire, EveryTruncationIsAnErrorNotACrash) {
    std::string body = sample_body();
    for (size_t n = 0; n < body.size(); ++n) {
        auto batch = parse_batch(std::string_view(body).substr(0, n));
        EXPECT_FALSE(batch) << "a body cut at " << n << " of " << body.size() << " bytes was accepted";
    }
}

TEST(UploadWire, TrailingBytesAreRefused) {
    auto batch = parse_batch(sample_body() + "x");
    ASSERT_FALSE(batch);
    EXPECT_NE(batch.error().find("after the last record"), std::string::npos) << batch.error();
}

TEST(UploadWire, LengthsAndCountsAreBoundedBeforeAnythingIsAllocated) {
    // a frame length of 4 GiB - 1 and one of more than 5 varint bytes
    auto huge = parse_batch(std::string("\xff\xff\xff\xff\x0f", 5) + "abc");
    ASSERT_FALSE(huge);
    EXPECT_NE(huge.error().find("at most"), std::string::npos) << huge.error();
    EXPECT_FALSE(parse_batch(std::string("\xff\xff\xff\xff\xff\xff\x01", 7)));
    // a header announcing 4 billion records in a 20-byte body
    v1::BatchHeader h;
    h.set_version(1);
    h.set_records(4'000'000'000u);
    std::string body;
    append_frame(body, h);
    auto many = parse_batch(body);
    ASSERT_FALSE(many);
    EXPECT_NE(many.error().find("records in one batch"), std::string::npos) << many.error();
    // within the count limit, but the frames are not there
    h.set_records(20'000);
    body.clear();
    append_frame(body, h);
    EXPECT_FALSE(parse_batch(body));
    // a body over the limit
    WireLimits small{.max_body = 64};
    EXPECT_FALSE(parse_batch(sample_body() + std::string(100, '\0'), small));
    // a frame over the limit
    WireLimits frames{.max_frame = 16};
    EXPECT_FALSE(parse_batch(sample_body(), frames));
}

TEST(UploadWire, AWrongVersionOrAGarbageHeaderIsRefused) {
    v1::BatchHeader h;
    h.set_version(2);
    std::string body;
    append_frame(body, h);
    auto v2 = parse_batch(body);
    ASSERT_FALSE(v2);
    EXPECT_NE(v2.error().find("version 2"), std::string::npos);
    EXPECT_FALSE(parse_batch(std::string("\x03\xff\xff\xff", 4)));
    EXPECT_FALSE(parse_batch(""));
}

TEST(UploadWire, RecordContentsAreChecked) {
    EXPECT_FALSE(check_record(session_record(1, "../../etc")));
    EXPECT_FALSE(check_record(session_record(1, "")));
    EXPECT_FALSE(check_record(session_record(1, "5EED")));  // ids are lowercase hex
    auto bad_status = session_record(1, "5eed");
    bad_status.mutable_session()->set_status("deleted");
    EXPECT_FALSE(check_record(bad_status));
    auto long_argv = session_record(1, "5eed");
    for (int i = 0; i < 5000; ++i) long_argv.mutable_session()->add_command("x");
    EXPECT_FALSE(check_record(long_argv));
    auto bad_hash = session_record(1, "5eed");
    bad_hash.mutable_session()->set_chain_head("short");
    EXPECT_FALSE(check_record(bad_hash));

    auto lying = chunk_record(2, "5eed", "abc");
    lying.mutable_chunk()->set_raw_size(1000);  // raw, but says 1000 bytes
    EXPECT_FALSE(check_record(lying));
    auto bomb = chunk_record(2, "5eed", "abc");
    bomb.mutable_chunk()->set_encoding(1);
    bomb.mutable_chunk()->set_raw_size(uint64_t{1} << 40);  // a zstd bomb's claim
    EXPECT_FALSE(check_record(bomb));
    auto encoding = chunk_record(2, "5eed", "abc");
    encoding.mutable_chunk()->set_encoding(7);
    EXPECT_FALSE(check_record(encoding));
    EXPECT_FALSE(check_record(v1::UploadRecord{}));  // no record at all
}

TEST(UploadWire, NodeNamesAreDnsSubdomains) {
    EXPECT_TRUE(valid_node_name("worker-1.example"));
    EXPECT_FALSE(valid_node_name("Worker"));
    EXPECT_FALSE(valid_node_name("-a"));
    EXPECT_FALSE(valid_node_name("a b"));
    EXPECT_FALSE(valid_node_name("system:node:a"));
    EXPECT_FALSE(valid_node_name(std::string(254, 'a')));
}

}  // namespace
}  // namespace execaudit::upload
