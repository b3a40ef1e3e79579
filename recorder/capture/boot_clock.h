#pragma once
// BPF stamps records with CLOCK_BOOTTIME (monotonic, counts suspend); people read UTC.
// Both are kept side by side; the offset between them is re-read on every conversion batch so
// NTP steps are followed.

#include <cstdint>
#include <string>

namespace execaudit::recorder {

class BootClock {
public:
    BootClock() { resync(); }
    /// Re-reads the offset between CLOCK_REALTIME and CLOCK_BOOTTIME.
    void resync();
    int64_t to_wall_ns(uint64_t boot_ns) const { return static_cast<int64_t>(boot_ns) + offset_ns_; }
    static uint64_t now_boot_ns();

private:
    int64_t offset_ns_ = 0;
};

/// /proc/sys/kernel/random/boot_id: which boot the boot-time values belong to.
std::string read_boot_id();

}  // namespace execaudit::recorder
