// The database file shared by the recorder's connections and by every reader on the node.
#include "storage/database.h"
#include "storage/store_writer.h"
#include "tests/support/environment.h"
#include "tests/support/process.h"
#include "tests/support/stored_sessions.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <algorithm>

using namespace execaudit;
using namespace execaudit::storage;

namespace {

using execaudit::testing::kT0Ns;

/// Session ids as another process (`execaudit sessions`) sees them.
std::vector<std::string> ids_seen_from_outside(const std::string& db) {
    auto r = execaudit::testing::run({execaudit::testing::execaudit_bin(), "sessions", "--db", db, "--format", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> ids;
    for (const auto& s : nlohmann::json::parse(r.out)) ids.push_back(s["id"]);
    std::sort(ids.begin(), ids.end());
    return ids;
}

}  // namespace

// The recorder opens one connection per exporter after the writer's. POSIX record locks belong to
// the process: a stray open()+close() of the file while the writer holds its locks dropped them,
// so the next reader to exit thought it was the last connection, checkpointed and deleted the
// WAL, and everything the writer committed afterwards went into an unlinked file.
TEST(Database, OpeningAnotherConnectionKeepsTheWritersCommitsVisible) {
    execaudit::testing::TempDir dir;
    std::string path = dir.file("sessions.db");
    StoreWriter writer(Database::open(path, Database::Mode::read_write), {});
    writer.submit(WriteSession{execaudit::testing::sample_session("aaaa000000000001", kT0Ns, {"/bin/sh"})});
    writer.flush();

    Database exporter_connection = Database::open(path, Database::Mode::read_write);
    EXPECT_EQ(ids_seen_from_outside(path), std::vector<std::string>{"aaaa000000000001"});  // a reader comes and goes

    writer.submit(WriteSession{execaudit::testing::sample_session("aaaa000000000002", kT0Ns + 1, {"/bin/sh"})});
    writer.flush();
    EXPECT_EQ(ids_seen_from_outside(path), (std::vector<std::string>{"aaaa000000000001", "aaaa000000000002"}));
    struct stat wal {};
    EXPECT_EQ(::stat((path + "-wal").c_str(), &wal), 0) << "the writer's WAL was deleted under it";
}

namespace {

// v4 widens the attribution CHECK in place: the new verdicts are stored, nonsense still is not.
TEST(Database, AttributionAcceptsTheNewVerdictsOnly) {
    execaudit::testing::TempDir dir;
    std::string path = dir.file("s.db");
    execaudit::testing::write_ops(path, {WriteSession{execaudit::testing::sample_session("aaaa000000000001", kT0Ns)}});
    auto db = Database::open(path, Database::Mode::read_write);
    db.exec("UPDATE sessions SET attribution = 'workload'");
    db.exec("UPDATE sessions SET attribution = 'kubelet'");
    EXPECT_ANY_THROW(db.exec("UPDATE sessions SET attribution = 'alice'"));
    auto st = db.prepare("SELECT attribution, user_verified, request_id FROM sessions");
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column_text(0), "kubelet");
    EXPECT_EQ(st.column_int(1), 1);
}

}  // namespace

// Session contents are sensitive: the database, its -wal and -shm files are 0600 and a directory
// created for them 0700, whatever the umask of whoever created them (issue 12).
TEST(Database, ItsFilesAre0600WhateverTheUmask) {
    for (unsigned mask : {0000u, 0277u}) {
        execaudit::testing::TempDir dir;
        std::string path = dir.file("spool/sessions.db");
        {
            execaudit::testing::ScopedUmask umask(mask);
            StoreWriter writer(Database::open(path, Database::Mode::read_write), {});
            writer.submit(WriteSession{execaudit::testing::sample_session("0123456789abcdef", kT0Ns)});
            writer.flush();
            auto reader = Database::open(path, Database::Mode::read_only);
            reader.exec("SELECT count(*) FROM sessions");
            for (std::string suffix : {"", "-wal", "-shm"})
                EXPECT_EQ(execaudit::testing::file_mode(path + suffix), 0600) << "umask " << std::oct << mask << ": sessions.db" << suffix;
            EXPECT_EQ(execaudit::testing::file_mode(dir.file("spool")), 0700) << "umask " << std::oct << mask;
        }
    }
}
