#pragma once
// The kernel-side state the recorder leaves behind on purpose: maps and links pinned in bpffs,
// so that the programs keep following sessions while no recorder runs (a restart, an upgrade)
// and the next recorder continues them.
//
//   PIN_DIR/<tag>/maps/<map>    PIN_DIR/<tag>/links/<program>
//
// The tag names one build and configuration of the programs (pin_tag): a recorder reuses only
// pins of its own tag; pins of another tag are an older build, whose state it takes over.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace execaudit::recorder {

inline constexpr const char* kDefaultPinDir = "/sys/fs/bpf/execaudit";

/// Makes sure `dir` (created if missing) lies on a bpffs; mounts one at /sys/fs/bpf when
/// nothing is mounted there. Throws RuntimeError saying what to do when it cannot.
void ensure_bpffs(const std::string& dir);

/// The tags pinned under `dir` (empty when it does not exist).
std::vector<std::string> pinned_tags(const std::string& dir);

/// Unpins everything under `path` (a tag's directory, or a whole pin directory) and removes
/// the directories. A pinned link that nobody else holds detaches its program. Returns how many
/// pins were removed; throws RuntimeError when one cannot be.
size_t remove_pins(const std::string& path);

/// One identity of the programs: an FNV-1a hash of the BPF object, its read-only configuration,
/// the ring's size and the number of CPUs. Maps of another tag may have another layout.
std::string pin_tag(std::span<const std::byte> object, std::span<const std::byte> rodata, uint64_t ring_bytes,
                    uint32_t cpus);

/// Holds the pin directory for one recorder (or `detach`): an exclusive flock on the directory
/// itself (bpffs holds no regular files). Throws RuntimeError when another process holds it.
class PinLock {
public:
    explicit PinLock(const std::string& dir);
    ~PinLock();
    PinLock(const PinLock&) = delete;
    PinLock& operator=(const PinLock&) = delete;

private:
    int fd_ = -1;
};

}  // namespace execaudit::recorder
