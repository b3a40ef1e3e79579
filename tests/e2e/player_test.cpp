// The player on sessions recorded for real: containerd + runc exec sessions typed like a person
// would, recorded by the real recorder, then replayed in tmux and read off the screen.
#include "common/time_format.h"
#include "storage/database.h"
#include "tests/support/testbed.h"
#include "tests/support/tmux.h"

#include <fmt/format.h>
#include <gtest/gtest.h>


using namespace execaudit;
using namespace execaudit::testing;
using nlohmann::json;

namespace {

class PlayerRecorded : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        if (!missing_privileges().empty() || !missing_program("containerd").empty() || !missing_program("runc").empty() ||
            !missing_program("tmux").empty())
            return;
        dir_ = new TempDir();
        db_ = dir_->file("sessions.db");
        Testbed bed;
        std::string container = bed.run_container("shop", "web-7f9c", "app");
        Recorder recorder(bed, db_);
        {
            PtyProcess shell(bed.exec_tty(container, "alice-1", {"/bin/bash", "--norc"}), 30, 100);
            ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
            ASSERT_TRUE(run_in(shell, "echo first-marker"));
            std::this_thread::sleep_for(1s);
            ASSERT_TRUE(run_in(shell, "ls /usr | head -3"));
            ASSERT_TRUE(run_in(shell, "printf 'echo x' > /tmp/noexec.sh; /tmp/noexec.sh"));
            std::this_thread::sleep_for(1s);
            ASSERT_TRUE(run_in(shell, "echo needle-$((40+2))"));  // the typed text is not the printed one
            std::this_thread::sleep_for(1s);
            ASSERT_TRUE(run_in(shell, "/bin/echo last-marker"));
            shell.type("exit\r");
            ASSERT_EQ(shell.wait(30s), 0);
        }
        {
            // a session aimed at the analyst's terminal: a title, a clear, a reset, 1 MB of binary
            PtyProcess shell(bed.exec_tty(container, "mallory-1", {"/bin/bash", "--norc"}), 24, 80);
            ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
            ASSERT_TRUE(run_in(shell, "printf '\\033]0;owned-title\\007\\033]2;owned-too\\007\\033[2J\\033c'; head -c 1000000 /dev/urandom; "
                                      "printf '\\033c'; /bin/echo after-blob"));
            shell.type("exit\r");
            ASSERT_EQ(shell.wait(30s), 0);
        }
        ASSERT_EQ(recorder.stop(), 0) << recorder.log();
        alice_ = list_sessions(db_, {"--command", "noexec.sh"}).at(0)["id"];
        mallory_ = list_sessions(db_, {"--command", "1000000"}).at(0)["id"];
        // Attribution is another component's (it correlates API audit events): write its columns
        // the way it will, so the header has a user to show.
        auto db = storage::Database::open(db_, storage::Database::Mode::read_write);
        auto st = db.prepare("UPDATE sessions SET user = 'alice@example.com', attribution = 'audit' WHERE id = ?1");
        st.bind(1, alice_);
        st.run();
        auto un = db.prepare("UPDATE sessions SET attribution = 'unattributed' WHERE id = ?1");
        un.bind(1, mallory_);
        un.run();
    }
    static void TearDownTestSuite() {
        delete dir_;
        dir_ = nullptr;
    }
    void SetUp() override {
        EA_REQUIRE(missing_privileges());
        EA_REQUIRE(missing_program("containerd"));
        EA_REQUIRE(missing_program("runc"));
        EA_REQUIRE(missing_program("tmux"));
        ASSERT_FALSE(alice_.empty()) << "recording the sessions failed (see above)";
    }

    static std::vector<std::string> play(const std::string& id, const std::vector<std::string>& extra = {}) { return play_argv(db_, id, extra); }
    static long tenths(const std::string& screen) { return shown_tenths(screen); }

    // Each command's time in the session, in tenths of a second, as `show` reports it.
    static std::vector<long> command_tenths(const std::string& id) {
        json shown = show_session(db_, id);
        int64_t start = *parse_rfc3339(shown["start"].get<std::string>());
        std::vector<long> out;
        for (const auto& c : shown["timeline"]) out.push_back(static_cast<long>((*parse_rfc3339(c["time"].get<std::string>()) - start) / 100'000'000));
        return out;
    }

    static TempDir* dir_;
    static std::string db_, alice_, mallory_;
};

TempDir* PlayerRecorded::dir_ = nullptr;
std::string PlayerRecorded::db_, PlayerRecorded::alice_, PlayerRecorded::mallory_;

TEST_F(PlayerRecorded, HeaderNamesThePodAndTheUser) {
    Tmux t(45, 160, play(alice_, {"--paused"}));
    ASSERT_TRUE(t.wait_for("who: alice@example.com")) << t.screen();
    std::string s = t.settled();
    EXPECT_NE(s.find("pod: shop/web-7f9c"), std::string::npos) << s;
    EXPECT_NE(s.find("container: app"), std::string::npos);
    EXPECT_NE(s.find("node: test-node"), std::string::npos);
}

TEST_F(PlayerRecorded, TimelineListsTheCommands) {
    Tmux t(45, 160, play(alice_, {"--paused"}));
    ASSERT_TRUE(t.wait_for("Commands (")) << t.screen();
    std::string s = t.settled();
    for (const char* text : {"ok       /bin/bash --norc", "ok       ls /usr", "ok       head -3", "EACCES   /tmp/noexec.sh",
                             "ok       /bin/echo last-marker"})
        EXPECT_NE(s.find(text), std::string::npos) << text << "\n" << s;
}

TEST_F(PlayerRecorded, NJumpsToTheNextCommandsTime) {
    auto times = command_tenths(alice_);
    ASSERT_GE(times.size(), 4u);
    Tmux t(45, 160, play(alice_, {"--paused"}));
    ASSERT_TRUE(t.wait_for("paused")) << t.screen();
    // the first command is the shell itself, at the start; each n goes to the next one's time
    for (size_t i = 1; i < 4; ++i) {
        t.keys({"n"});
        std::string says = fmt::format("command {} of {}", i + 1, times.size());
        ASSERT_TRUE(t.wait_until([&](const std::string& x) { return x.find(says) != std::string::npos && std::labs(tenths(x) - times[i]) <= 1; }))
            << "command " << i << " at " << times[i] << " tenths, '" << says << "':\n" << t.screen();
    }
}

TEST_F(PlayerRecorded, PauseStopsTheClock) {
    Tmux t(45, 160, play(alice_, {"--idle-limit", "0"}));
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return tenths(x) >= 5; })) << t.screen();
    t.keys({"Space"});
    ASSERT_TRUE(t.wait_for("paused"));
    long at = tenths(t.settled());
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(tenths(t.screen()), at);
    t.keys({"Space"});
    ASSERT_TRUE(t.wait_until([&](const std::string& x) { return tenths(x) > at; })) << t.screen();
}

TEST_F(PlayerRecorded, SeekToTheEndShowsTheFinalScreen) {
    Tmux t(45, 160, play(alice_, {"--paused"}));
    ASSERT_TRUE(t.wait_for("paused"));
    t.keys({"G"});
    ASSERT_TRUE(t.wait_for("ended")) << t.screen();
    std::string s = t.settled();
    std::string final_screen = play_cat(db_, alice_);
    ASSERT_NE(final_screen.find("last-marker"), std::string::npos);
    for (size_t at = 0, end; (end = final_screen.find('\n', at)) != std::string::npos; at = end + 1)
        EXPECT_NE(s.find(final_screen.substr(at, end - at)), std::string::npos) << final_screen.substr(at, end - at) << "\n" << s;
}

TEST_F(PlayerRecorded, SearchFindsAStringPrintedMidSession) {
    auto times = command_tenths(alice_);
    Tmux t(45, 160, play(alice_, {"--paused"}));
    ASSERT_TRUE(t.wait_for("paused"));
    t.keys({"/"});
    t.type("needle-42");
    t.keys({"Enter"});
    ASSERT_TRUE(t.wait_for("match 1 of 1")) << t.screen();
    std::string s = t.settled();
    long at = tenths(s);
    EXPECT_GT(at, times.at(3)) << "printed after the failed exec";
    EXPECT_LT(at, times.back()) << "and before the last command";
    EXPECT_NE(s.find("\nneedle-42"), std::string::npos) << s;
    EXPECT_EQ(s.find("\nlast-marker"), std::string::npos) << "the screen is the one of that moment (not yet printed):\n" << s;
}

TEST_F(PlayerRecorded, HostileSessionCannotTouchTheAnalystsTerminal) {
    Tmux t(45, 160, play(mallory_, {"--speed", "16"}));
    std::string title = t.pane_title();
    ASSERT_TRUE(t.wait_for("ended", 60s)) << t.screen();
    std::string s = t.settled();
    EXPECT_EQ(t.pane_title(), title);
    EXPECT_EQ(s.rfind(" execaudit play", 0), 0u) << "the header was cleared:\n" << s;
    EXPECT_NE(s.find("who: unattributed"), std::string::npos);
    EXPECT_NE(s.find("after-blob"), std::string::npos) << s;
    EXPECT_EQ(s.find("owned"), std::string::npos);
    // back to the start and through the blob again, seeking (keyframes restored, not replayed)
    t.keys({"g"});
    ASSERT_TRUE(t.wait_until([](const std::string& x) { return tenths(x) == 0; })) << t.screen();
    t.keys({"G"});
    ASSERT_TRUE(t.wait_for("ended")) << t.screen();
    EXPECT_NE(t.settled().find("after-blob"), std::string::npos);
    EXPECT_EQ(t.pane_title(), title);
    t.keys({"q"});
    ASSERT_TRUE(eventually([&] { return t.exit_status().has_value(); })) << t.screen();
    EXPECT_EQ(t.exit_status(), 0);
}

}  // namespace
