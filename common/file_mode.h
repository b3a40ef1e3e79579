#pragma once
// Files execaudit creates hold session contents: their mode is chosen here, never left to the umask
// of whoever runs execaudit (0600, or 0640 for the JSON lines a shipper in the file's group reads).

#include "common/unique_fd.h"

#include <sys/types.h>

#include <string>

namespace execaudit {

inline constexpr mode_t kPrivateFileMode = 0600;

/// Opens `path` with `flags` (O_WRONLY or O_RDWR, with O_TRUNC or O_APPEND; O_CLOEXEC is added),
/// creating it when it does not exist. A file it creates has exactly `mode`, whatever the umask,
/// before anything is written to it; a file that exists keeps its own. Empty (errno set) on failure.
UniqueFd open_or_create(const std::string& path, int flags, mode_t mode);

}  // namespace execaudit
