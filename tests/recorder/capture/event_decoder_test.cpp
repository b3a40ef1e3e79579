#include "recorder/capture/event_decoder.h"
#include "tests/support/event_builder.h"

#include <gtest/gtest.h>

#include <random>

using namespace execaudit::recorder;
using execaudit::testing::RecordBuilder;

namespace {

template <typename T>
const T& as(const std::expected<Event, std::string>& e) {
    EXPECT_TRUE(e.has_value()) << (e ? "" : e.error());
    return std::get<T>(*e);
}

TEST(EventDecoder, ExecWithArgv) {
    RecordBuilder b;
    auto rec = b.exec({"/bin/sh", "-c", "echo hi; rm -rf /tmp/x"}, EA_EXEC_SESSION_START);
    auto e = decode_event(rec);
    const auto& exec = as<ExecEvent>(e);
    EXPECT_TRUE(exec.session_start());
    ASSERT_EQ(exec.argv.size(), 3u);
    EXPECT_EQ(exec.argv[2], "echo hi; rm -rf /tmp/x");
    EXPECT_EQ(exec.filename, "/bin/sh");
    EXPECT_EQ(exec.parent_comm, "runc");
}

TEST(EventDecoder, ArgvCutWithoutItsNul) {
    RecordBuilder b;
    auto rec = b.exec({"ls", "abc"});
    rec.pop_back();  // the last argument lost its NUL
    ea_header h;
    std::memcpy(&h, rec.data(), sizeof(h));
    h.size = static_cast<uint32_t>(rec.size());
    std::memcpy(rec.data(), &h, sizeof(h));
    uint32_t args_len = 6;  // "ls\0abc"
    std::memcpy(rec.data() + offsetof(ea_exec, args_len), &args_len, sizeof(args_len));
    auto decoded = decode_event(rec);
    const auto& exec = as<ExecEvent>(decoded);
    ASSERT_EQ(exec.argv.size(), 2u);
    EXPECT_EQ(exec.argv[1], "abc");
}

TEST(EventDecoder, TtyData) {
    RecordBuilder b;
    auto rec = b.tty(std::string("\x1b]0;pwned\x07\0binary", 17), false, 40, 120);
    auto decoded = decode_event(rec);
    const auto& io = as<TtyIoEvent>(decoded);
    EXPECT_EQ(io.data.size(), 17u);
    EXPECT_EQ(io.rows, 40);
    EXPECT_EQ(io.cols, 120);
    EXPECT_FALSE(io.input());
    EXPECT_TRUE(io.onlcr());
}

TEST(EventDecoder, MalformedRecordsAreErrorsNotCrashes) {
    RecordBuilder b;
    auto exec = b.exec({"ls"});
    // size field disagrees with what the ring handed over
    auto shorter = exec;
    shorter.resize(exec.size() - 1);
    EXPECT_FALSE(decode_event(shorter));
    // args_len beyond the record
    auto lying = exec;
    uint32_t huge = 100000;
    std::memcpy(lying.data() + offsetof(ea_exec, args_len), &huge, sizeof(huge));
    EXPECT_FALSE(decode_event(lying));
    // filename_len beyond the filename field
    auto bad_name = exec;
    uint16_t long_name = 9999;
    std::memcpy(bad_name.data() + offsetof(ea_exec, filename_len), &long_name, sizeof(long_name));
    EXPECT_FALSE(decode_event(bad_name));
    // tty len disagreeing with size
    auto tty = b.tty("hello");
    uint32_t len = 4096;
    std::memcpy(tty.data() + offsetof(ea_tty_io, len), &len, sizeof(len));
    EXPECT_FALSE(decode_event(tty));
    // unknown type, empty, header only
    auto unknown = b.exit(0, true);
    uint16_t type = 99;
    std::memcpy(unknown.data(), &type, sizeof(type));
    EXPECT_FALSE(decode_event(unknown));
    EXPECT_FALSE(decode_event({}));
    auto result = b.exec_result(0);
    result.resize(sizeof(ea_header));
    EXPECT_FALSE(decode_event(result));
}

TEST(EventDecoder, RandomBytesNeverCrash) {
    std::mt19937 rng(7);
    for (int i = 0; i < 20000; ++i) {
        std::vector<std::byte> rec(rng() % 9000);
        for (auto& x : rec) x = static_cast<std::byte>(rng());
        if (rec.size() >= sizeof(ea_header)) {
            // often make the header self-consistent so the per-type checks are reached
            uint32_t size = static_cast<uint32_t>(rec.size());
            uint16_t type = static_cast<uint16_t>(1 + rng() % 6);
            std::memcpy(rec.data() + offsetof(ea_header, size), &size, sizeof(size));
            std::memcpy(rec.data(), &type, sizeof(type));
        }
        auto e = decode_event(rec);
        if (e) (void)header_of(*e);
    }
}

}  // namespace
