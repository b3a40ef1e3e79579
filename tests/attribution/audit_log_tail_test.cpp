// The audit log tail against what a hostile or broken log does: an endless line, a FIFO at the
// path, a copytruncate that rewrites lines of the same length before the next poll.
#include "attribution/audit_log_tail.h"
#include "tests/support/environment.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <future>

using namespace execaudit::attribution;
using namespace execaudit::testing;

namespace {

std::string exec_line(const std::string& id) {
    return R"({"kind":"Event","auditID":")" + id +
           R"(","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/shop/pods/web/exec?command=sh","verb":"create",)"
           R"("user":{"username":"alice"},"objectRef":{"resource":"pods","namespace":"shop","name":"web","subresource":"exec"},)"
           R"("responseStatus":{"code":101},"requestReceivedTimestamp":"2024-10-29T12:21:44.189258Z",)"
           R"("stageTimestamp":"2024-10-29T12:21:44.214173Z"})"
           "\n";
}

void append(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::app | std::ios::binary) << text; }

class TailTest : public ::testing::Test {
protected:
    std::vector<std::string> ids;
    TempDir dir_;
    std::string path_ = dir_.file("audit.log");
    boost::asio::io_context io_;
    std::unique_ptr<AuditLogTail> tail_;
    void start() {
        tail_ = std::make_unique<AuditLogTail>(
            io_, path_, std::nullopt,
            [this](AuditLogTail::Batch b) {
                for (const auto& e : b.events) ids.push_back(e.audit_id);
            },
            std::chrono::milliseconds(5));
        tail_->start();
    }
    void run(int ms = 150) {
        io_.restart();
        io_.run_for(std::chrono::milliseconds(ms));
    }
};

TEST_F(TailTest, AnOversizedLineIsSkippedOnceAndCounted) {
    std::ofstream(path_) << exec_line("before");
    start();
    run();
    append(path_, std::string(40u << 20, 'x'));  // 40 MiB without a newline, then its end
    run();
    append(path_, "\n" + exec_line("after"));
    run(600);
    EXPECT_EQ(ids, (std::vector<std::string>{"before", "after"}));
    EXPECT_EQ(tail_->lines_too_long(), 1u);
    run(300);  // and it does not start over from byte 0 (which would repeat "before")
    EXPECT_EQ(ids.size(), 2u);
}

TEST_F(TailTest, AFifoAtThePathDoesNotBlockAndIsRefused) {
    ASSERT_EQ(mkfifo(path_.c_str(), 0600), 0);
    auto started = std::async(std::launch::async, [this] { start(); });
    bool blocked = started.wait_for(std::chrono::seconds(5)) == std::future_status::timeout;
    if (blocked) {  // unblock the open() so the test can end, then fail
        std::ofstream(path_) << "";
        started.wait();
    }
    ASSERT_FALSE(blocked) << "open() of a FIFO blocked the recorder's loop";
    run();
    EXPECT_TRUE(ids.empty());
    // replaced by a regular file: followed
    std::filesystem::remove(path_);
    std::ofstream(path_) << exec_line("regular");
    run(300);
    EXPECT_EQ(ids, std::vector<std::string>{"regular"});
}

TEST_F(TailTest, CopytruncateWithLinesOfTheSameLengthIsNoticed) {
    std::ofstream(path_) << exec_line("aaaa-1");
    start();
    run();
    ASSERT_EQ(ids, std::vector<std::string>{"aaaa-1"});
    // truncated in place, and refilled to the same size before the next poll
    { std::ofstream(path_, std::ios::trunc) << exec_line("bbbb-1"); }
    run();
    append(path_, exec_line("cccc-1"));
    run();
    EXPECT_EQ(ids, (std::vector<std::string>{"aaaa-1", "bbbb-1", "cccc-1"}));
}

}  // namespace
