#pragma once
// tp/syscalls/* programs attach through tracefs; some nodes do not mount it.

#include <string>

namespace execaudit::recorder {

/// Mounts tracefs at /sys/kernel/tracing when neither it nor debugfs's tracing dir is usable.
/// Returns the tracing directory. Throws RuntimeError when it cannot be made available.
std::string ensure_tracefs();

}  // namespace execaudit::recorder
