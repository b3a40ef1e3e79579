// The exporter thread against a JSON lines file: everything committed arrives, in commit order,
// and a restarted exporter resumes at its persisted cursor.
#include "export/jsonl_file.h"
#include "export/exporter.h"
#include "storage/export_cursor.h"
#include "tests/support/environment.h"
#include "tests/support/stored_sessions.h"
#include "tests/support/process.h"
#include "tests/support/rsyslog.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

using namespace execaudit;
using namespace execaudit::testing;

namespace {

std::unique_ptr<exporting::Exporter> exporter(const std::string& db, const std::string& path) {
    return std::make_unique<exporting::Exporter>(
        exporting::Exporter::Options{.db_path = db, .batch_records = 7, .idle_poll = std::chrono::milliseconds(20)},
        std::make_unique<exporting::JsonlFile>(exporting::JsonlFile::Options{.path = path}));
}

TEST(Exporter, DeliversEverythingOnceAndResumesAfterARestart) {
    TempDir dir;
    std::string db = dir.file("s.db"), path = dir.file("out.jsonl");
    write_finished_session(db, "aaaa000000000001", kT0Ns, 10);  // 12 records

    auto first = exporter(db, path);
    first->start();
    ASSERT_TRUE(eventually([&] { return jsonl_record_ids(read_file(path)).size() == 12; }, 10s)) << jsonl_record_ids(read_file(path)).size();
    // Written while the exporter runs: picked up without a restart.
    write_finished_session(db, "bbbb000000000002", kT0Ns + kSecondNs, 3);
    ASSERT_TRUE(eventually([&] { return jsonl_record_ids(read_file(path)).size() == 17; }, 10s));
    first->stop(std::chrono::seconds(5));
    EXPECT_EQ(first->stats().backlog, 0);
    EXPECT_EQ(first->stats().sent, 17u);

    write_finished_session(db, "cccc000000000003", kT0Ns + 2 * kSecondNs, 1);  // recorded while export is down
    auto second = exporter(db, path);
    second->start();
    ASSERT_TRUE(eventually([&] { return jsonl_record_ids(read_file(path)).size() == 20; }, 10s));
    second->stop(std::chrono::seconds(5));

    auto ids = jsonl_record_ids(read_file(path));
    ASSERT_EQ(ids.size(), 20u);
    EXPECT_EQ(ids.front(), "aaaa000000000001:start");
    EXPECT_EQ(ids[11], "aaaa000000000001:end");
    EXPECT_EQ(ids[12], "bbbb000000000002:start");
    EXPECT_EQ(ids.back(), "cccc000000000003:end");
    std::set<std::string> unique(ids.begin(), ids.end());
    EXPECT_EQ(unique.size(), ids.size());  // a file confirms each batch: a clean restart sends nothing twice

    auto handle = storage::Database::open(db, storage::Database::Mode::read_only);
    auto last = handle.prepare("SELECT max(position) FROM export_outbox");
    last.step();
    EXPECT_EQ(storage::ExportCursor(handle, "jsonl " + path).load(), last.column_int(0));
}

TEST(Exporter, AnUnwritableDestinationIsRetriedAndNothingIsLost) {
    TempDir dir;
    std::string db = dir.file("s.db"), sub = dir.file("later"), path = sub + "/out.jsonl";
    write_finished_session(db, "aaaa000000000001", kT0Ns, 2);
    auto e = std::make_unique<exporting::Exporter>(
        exporting::Exporter::Options{.db_path = db, .backoff_min = std::chrono::milliseconds(50),
                                    .backoff_max = std::chrono::milliseconds(100)},
        std::make_unique<exporting::JsonlFile>(exporting::JsonlFile::Options{.path = path}));
    e->start();
    ASSERT_TRUE(eventually([&] { return e->stats().failures >= 2; }, 10s));
    EXPECT_FALSE(e->stats().connected);
    std::filesystem::create_directory(sub);  // the destination comes back
    ASSERT_TRUE(eventually([&] { return jsonl_record_ids(read_file(path)).size() == 4; }, 10s));
    e->stop(std::chrono::seconds(5));
    EXPECT_EQ(jsonl_record_ids(read_file(path)).back(), "aaaa000000000001:end");
}

}  // namespace
