#pragma once
// What a privileged test needs from the machine, and the paths of what it runs.

#include <string>

namespace execaudit::testing {

/// The execaudit binary under test.
std::string execaudit_bin();
/// The source tree (for scripts/testbed).
std::string source_dir();
/// A fresh directory under /tmp, removed on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

/// Empty when the test can run; otherwise the exact reason it cannot ("needs root", ...).
std::string missing_privileges();
std::string missing_program(const std::string& name);
std::string read_file(const std::string& path);
/// The permission bits of `path` (st_mode & 07777), -1 when it does not exist.
int file_mode(const std::string& path);

/// Sets the process's umask for a scope (file modes must not depend on it).
class ScopedUmask {
public:
    explicit ScopedUmask(unsigned mask);
    ~ScopedUmask();
    ScopedUmask(const ScopedUmask&) = delete;
    ScopedUmask& operator=(const ScopedUmask&) = delete;

private:
    unsigned saved_;
};

}  // namespace execaudit::testing

/// Skips (with "SKIPPED: <reason>") when the machine lacks what the test needs.
#define EA_REQUIRE(reason_expr)                                           \
    do {                                                                  \
        std::string ea_reason_ = (reason_expr);                           \
        if (!ea_reason_.empty()) GTEST_SKIP() << "SKIPPED: " << ea_reason_; \
    } while (0)
