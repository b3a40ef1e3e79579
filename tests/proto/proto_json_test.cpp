#include "execaudit.pb.h"
#include "proto_json.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

namespace {

TEST(ProtoJson, NullsForUnsetOptionalsAndNumbersFor64Bit) {
    execaudit::v1::Session s;
    s.set_id("abc");
    s.set_cgroup_id(1ull << 40);
    s.set_output_bytes(12345);
    s.add_command("/bin/bash");
    auto j = execaudit::proto::to_json(s);
    EXPECT_TRUE(j.at("end").is_null());
    EXPECT_TRUE(j.at("user").is_null());
    EXPECT_TRUE(j.at("exit_code").is_null());
    EXPECT_EQ(j.at("cgroup_id"), 1ull << 40);
    EXPECT_TRUE(j.at("output_bytes").is_number());
    EXPECT_EQ(j.at("status"), "open");
    EXPECT_EQ(j.at("attribution"), "pending");
    EXPECT_EQ(j.at("namespace"), "");  // every field present, proto names (snake_case)
    EXPECT_TRUE(j.contains("lost_events"));

    s.set_end("2024-10-29T12:21:44.189258Z");
    s.set_exit_code(0);  // set to zero is not null
    s.set_status(execaudit::v1::Session::ended);
    j = execaudit::proto::to_json(s);
    EXPECT_EQ(j.at("end"), "2024-10-29T12:21:44.189258Z");
    EXPECT_EQ(j.at("exit_code"), 0);
    EXPECT_EQ(j.at("status"), "ended");

    // what we print parses back into the same message with protobuf's parser
    execaudit::v1::Session back;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(j.dump(), &back).ok());
    EXPECT_EQ(back.cgroup_id(), s.cgroup_id());
    EXPECT_EQ(back.end(), s.end());
    EXPECT_TRUE(back.has_exit_code());
    EXPECT_FALSE(back.has_user());
}

}  // namespace
