#include "tests/support/environment.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace execaudit::testing {
namespace fs = std::filesystem;

std::string execaudit_bin() { return EXECAUDIT_BIN; }
std::string source_dir() { return EXECAUDIT_SOURCE_DIR; }

TempDir::TempDir() {
    std::string tmpl = "/tmp/execaudit-test.XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

std::string missing_privileges() {
    if (geteuid() != 0) return "needs root (BPF programs, cgroups, containers)";
    if (!fs::exists("/sys/kernel/btf/vmlinux")) return "the kernel has no BTF at /sys/kernel/btf/vmlinux";
    return "";
}

std::string missing_program(const std::string& name) {
    for (const char* dir : {"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"})
        if (access((std::string(dir) + "/" + name).c_str(), X_OK) == 0) return "";
    return name + " is not installed (scripts/setup installs it)";
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int file_mode(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
}

ScopedUmask::ScopedUmask(unsigned mask) : saved_(::umask(static_cast<mode_t>(mask))) {}
ScopedUmask::~ScopedUmask() { ::umask(static_cast<mode_t>(saved_)); }

}  // namespace execaudit::testing
