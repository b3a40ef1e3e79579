// A log line is one line, whatever the message carries: an auditID or a user from a request
// cannot forge a FINDING line, or put ESC and NUL on the operator's terminal.
#include "common/log.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <fstream>
#include <sstream>

namespace {

std::string captured(const std::function<void()>& body) {
    char path[] = "/tmp/execaudit-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(2);
    dup2(fd, 2);
    body();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    std::ifstream in(path, std::ios::binary);
    std::stringstream out;
    out << in.rdbuf();
    unlink(path);
    return out.str();
}

TEST(Log, OutsideBytesCannotForgeALine) {
    std::string audit_id = "a1\n2026-12-02T16:00:00.000000Z warn  FINDING: session x has no Kubernetes API request";
    std::string user = std::string("mallory\x1b]0;owned\x07\0bob", 20);
    std::string text = captured([&] { execaudit::log::warn("exec {} by {} was denied", audit_id, user); });
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
    EXPECT_EQ(text.find('\x1b'), std::string::npos);
    EXPECT_EQ(text.find('\0'), std::string::npos);
    EXPECT_NE(text.find("a1\\n2026"), std::string::npos) << text;  // visible, escaped
}

}  // namespace
