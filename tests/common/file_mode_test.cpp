// open_or_create(): a file execaudit creates has the mode it chose, whatever the umask (issue 12).
#include "common/file_mode.h"
#include "tests/support/environment.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

using namespace execaudit;
using namespace execaudit::testing;

TEST(OpenOrCreate, ANewFileHasExactlyTheModeWhateverTheUmask) {
    TempDir dir;
    for (unsigned mask : {0000u, 0022u, 0777u}) {
        ScopedUmask umask(mask);
        for (mode_t mode : {mode_t{0600}, mode_t{0640}}) {
            std::string path = dir.file("f" + std::to_string(mask) + "-" + std::to_string(mode));
            UniqueFd fd = open_or_create(path, O_WRONLY | O_TRUNC, mode);
            ASSERT_TRUE(fd) << std::strerror(errno);
            EXPECT_EQ(file_mode(path), static_cast<int>(mode)) << "umask " << std::oct << mask;
        }
    }
}

TEST(OpenOrCreate, AnExistingFileKeepsItsModeAndIsOpenedAsAsked) {
    TempDir dir;
    std::string path = dir.file("existing");
    {
        UniqueFd fd = open_or_create(path, O_WRONLY | O_TRUNC, 0600);
        ASSERT_EQ(::write(fd.get(), "abc", 3), 3);
    }
    ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
    {
        UniqueFd fd = open_or_create(path, O_WRONLY | O_APPEND, 0600);
        ASSERT_EQ(::write(fd.get(), "de", 2), 2);
    }
    EXPECT_EQ(read_file(path), "abcde");
    EXPECT_EQ(file_mode(path), 0644);
    UniqueFd fd = open_or_create(path, O_WRONLY | O_TRUNC, 0600);
    EXPECT_EQ(read_file(path), "");
    EXPECT_EQ(file_mode(path), 0644);
    EXPECT_FALSE(open_or_create(dir.file("missing/x"), O_WRONLY, 0600));
    EXPECT_EQ(errno, ENOENT);
}
