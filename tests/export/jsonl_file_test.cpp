// The JSON lines file a shipper tails: whole lines, rotation by size that loses none, and a
// partial line left by a crash never glued to the next record.
#include "export/jsonl_file.h"
#include "tests/support/environment.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

using namespace execaudit;
using namespace execaudit::exporting;
using namespace execaudit::testing;

namespace {

std::vector<v1::ExportRecord> records(int from, int count) {
    std::vector<v1::ExportRecord> out;
    for (int i = from; i < from + count; ++i) {
        v1::ExportRecord r;
        r.set_record_id("s:command:" + std::to_string(i));
        r.set_position(static_cast<uint64_t>(i));
        r.mutable_command()->add_argv(std::string(100, 'x'));
        out.push_back(r);
    }
    return out;
}

std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

TEST(JsonlFile, RotatesBySizeWithoutLosingOrSplittingALine) {
    TempDir dir;
    std::string path = dir.file("records.jsonl");
    JsonlFile file({.path = path, .max_bytes = 4096, .keep = 50});
    ASSERT_TRUE(file.open());
    for (int batch = 0; batch < 10; ++batch) {
        auto r = records(1 + batch * 20, 20);
        ASSERT_TRUE(file.send(r, batch * 20 + 20));
        EXPECT_EQ(file.confirmed(), batch * 20 + 20);
    }
    EXPECT_GT(file.rotations(), 5u);
    // Oldest first: PATH.N ... PATH.1, then PATH.
    std::vector<std::string> all;
    for (unsigned i = static_cast<unsigned>(file.rotations()); i >= 1; --i) {
        auto part = lines_of(path + "." + std::to_string(i));
        EXPECT_LE(read_file(path + "." + std::to_string(i)).size(), 4096u);
        all.insert(all.end(), part.begin(), part.end());
    }
    auto current = lines_of(path);
    all.insert(all.end(), current.begin(), current.end());
    ASSERT_EQ(all.size(), 200u);
    for (int i = 0; i < 200; ++i)
        EXPECT_EQ(nlohmann::json::parse(all[static_cast<size_t>(i)])["record_id"], "s:command:" + std::to_string(i + 1));
}

TEST(JsonlFile, KeepsOnlySoManyRotatedFiles) {
    TempDir dir;
    std::string path = dir.file("records.jsonl");
    JsonlFile file({.path = path, .max_bytes = 1024, .keep = 2});
    ASSERT_TRUE(file.open());
    ASSERT_TRUE(file.send(records(1, 50), 50));
    EXPECT_FALSE(read_file(path + ".1").empty());
    EXPECT_FALSE(read_file(path + ".2").empty());
    EXPECT_FALSE(std::ifstream(path + ".3").good());
}

TEST(JsonlFile, APartialLineFromACrashIsEndedBeforeTheNextRecord) {
    TempDir dir;
    std::string path = dir.file("records.jsonl");
    std::ofstream(path) << "{\"record_id\":\"s:command:1\"}\n{\"record_id\":\"s:comm";
    JsonlFile file({.path = path});
    ASSERT_TRUE(file.open());
    ASSERT_TRUE(file.send(records(2, 1), 2));
    auto lines = lines_of(path);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[1], "{\"record_id\":\"s:comm");
    EXPECT_EQ(nlohmann::json::parse(lines[2])["record_id"], "s:command:2");
}

TEST(JsonlFile, AnUnwritablePathIsAClearError) {
    JsonlFile file({.path = "/proc/no/such/dir/x.jsonl"});
    auto opened = file.open();
    ASSERT_FALSE(opened);
    EXPECT_NE(opened.error().find("/proc/no/such/dir/x.jsonl"), std::string::npos);
}

// 0640 for the shipper's group, exactly, whatever the umask: the file and each new one after a
// rotation (issue 12).
TEST(JsonlFile, Is0640WhateverTheUmask) {
    for (unsigned mask : {0000u, 0277u}) {
        TempDir dir;
        std::string path = dir.file("records.jsonl");
        ScopedUmask umask(mask);
        JsonlFile file({.path = path, .max_bytes = 1000, .keep = 2});
        ASSERT_TRUE(file.open());
        EXPECT_EQ(file_mode(path), 0640) << "umask " << std::oct << mask;
        ASSERT_TRUE(file.send(records(0, 20), 19));
        ASSERT_GT(file.rotations(), 0u);
        EXPECT_EQ(file_mode(path), 0640) << "umask " << std::oct << mask;
        EXPECT_EQ(file_mode(path + ".1"), 0640) << "umask " << std::oct << mask;
    }
}

}  // namespace
