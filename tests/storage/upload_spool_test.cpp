// The node's SQLite as the upload spool (schema v8): off unless upload is enabled (a single node
// stores exactly what it stored before), then every session, command and chunk the writer stores
// is pending in commit order, a record that changes again moves behind, and an acknowledgement
// removes exactly what it covers.
#include "storage/upload_spool.h"

#include "storage/recorder_restart.h"
#include "tests/support/environment.h"
#include "tests/support/stored_sessions.h"

#include <gtest/gtest.h>

namespace execaudit::testing {
namespace {
using namespace storage;

std::vector<std::string> describe(const std::vector<SpoolEntry>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries)
        out.push_back(e.session_id.substr(0, 4) + (e.kind == SpoolKind::session ? ":session"
                                                   : e.kind == SpoolKind::command ? ":command:" + std::to_string(e.seq)
                                                                                   : ":chunk:" + std::to_string(e.seq)));
    return out;
}

ChunkRecord sample_chunk(const SessionRecord& s, uint32_t seq) {
    ChunkRecord c;
    c.session_id = s.id;
    c.seq = seq;
    ChunkEncoder e;
    e.add_bytes(0, FrameKind::output, "hello\r\n");
    c.frames_data = e.take();
    c.frames = 1;
    c.output_bytes = 7;
    return c;
}

class SpoolTest : public ::testing::Test {
protected:
    TempDir dir_;
    std::string path_ = dir_.file("sessions.db");
};

TEST_F(SpoolTest, NothingIsSpooledOnASingleNode) {
    auto s = sample_session("aaaa000000000001", kT0Ns);
    write_ops(path_, {WriteSession{s}, WriteCommand{sample_command(s, 0, {"/bin/bash"})}, WriteChunk{sample_chunk(s, 0)}});
    auto db = Database::open(path_, Database::Mode::read_write);
    EXPECT_EQ(UploadSpool(db).backlog(), 0);
    EXPECT_FALSE(get_recorder_state(db, kUploadSpoolKey));
}

TEST_F(SpoolTest, EnablingQueuesWhatIsStoredThenEveryNewRecordInCommitOrder) {
    auto old = sample_session("aaaa000000000001", kT0Ns);
    write_ops(path_, {WriteSession{old}, WriteCommand{sample_command(old, 0, {"/bin/bash"})}, WriteChunk{sample_chunk(old, 0)}});
    std::string id;
    {
        auto db = Database::open(path_, Database::Mode::read_write);
        id = enable_upload_spool(db);
        EXPECT_EQ(id.size(), 32u);
        EXPECT_EQ(enable_upload_spool(db), id);  // the same spool from then on
        // history: commands and chunks first, the session (its newest state) after what it covers
        EXPECT_EQ(describe(UploadSpool(db).pending(0, 100)),
                  (std::vector<std::string>{"aaaa:command:0", "aaaa:chunk:0", "aaaa:session"}));
    }
    auto s = sample_session("bbbb000000000002", kT0Ns + kSecondNs);
    auto ended = s;
    ended.status = "ended";
    ended.end_ns = s.start_ns + 5 * kSecondNs;
    ended.exit_code = 0;
    auto cmd = sample_command(s, 0, {"/bin/ls"});
    cmd.retval.reset();
    auto result = sample_command(s, 0, {"/bin/ls"}, 0);
    write_ops(path_, {WriteSession{s}, WriteCommand{cmd}, WriteChunk{sample_chunk(s, 0)}, WriteCommand{result},
                      WriteSession{ended}});
    auto db = Database::open(path_, Database::Mode::read_write);
    UploadSpool spool(db);
    auto pending = spool.pending(0, 100);
    // the command moved behind its chunk when its result came; the session behind everything
    // (its end and its chain head are written last)
    EXPECT_EQ(describe(pending), (std::vector<std::string>{"aaaa:command:0", "aaaa:chunk:0", "aaaa:session", "bbbb:chunk:0",
                                                           "bbbb:command:0", "bbbb:session"}));
    for (size_t i = 1; i < pending.size(); ++i) EXPECT_LT(pending[i - 1].position, pending[i].position);

    spool.acknowledge(pending[2].position);
    EXPECT_EQ(spool.acknowledged(), pending[2].position);
    EXPECT_EQ(describe(spool.pending(0, 100)), (std::vector<std::string>{"bbbb:chunk:0", "bbbb:command:0", "bbbb:session"}));
    spool.acknowledge(pending[1].position);  // never backwards
    EXPECT_EQ(spool.acknowledged(), pending[2].position);
    EXPECT_EQ(spool.backlog(), 3);
}

TEST_F(SpoolTest, DisablingStopsSpoolingAndKeepsWhatWasNotSent) {
    write_ops(path_, {});
    {
        auto db = Database::open(path_, Database::Mode::read_write);
        enable_upload_spool(db);
    }
    auto s = sample_session("cccc000000000003", kT0Ns);
    write_ops(path_, {WriteSession{s}});
    {
        auto db = Database::open(path_, Database::Mode::read_write);
        EXPECT_EQ(disable_upload_spool(db), 1);
    }
    write_ops(path_, {WriteCommand{sample_command(s, 0, {"/bin/bash"})}});
    auto db = Database::open(path_, Database::Mode::read_write);
    EXPECT_EQ(describe(UploadSpool(db).pending(0, 100)), (std::vector<std::string>{"cccc:session"}));
    // enabled again: a new spool, and what was stored meanwhile is queued too
    enable_upload_spool(db);
    EXPECT_EQ(describe(UploadSpool(db).pending(0, 100)), (std::vector<std::string>{"cccc:session", "cccc:command:0"}));
}

}  // namespace
}  // namespace execaudit::testing
