#include "recorder/capture/boot_clock.h"

#include <ctime>
#include <fstream>

namespace execaudit::recorder {
namespace {

int64_t read_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

void BootClock::resync() {
    // Bracket the realtime read with two boottime reads and use the midpoint.
    int64_t b1 = read_ns(CLOCK_BOOTTIME);
    int64_t r = read_ns(CLOCK_REALTIME);
    int64_t b2 = read_ns(CLOCK_BOOTTIME);
    offset_ns_ = r - (b1 + (b2 - b1) / 2);
}

uint64_t BootClock::now_boot_ns() { return static_cast<uint64_t>(read_ns(CLOCK_BOOTTIME)); }

std::string read_boot_id() {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string id;
    std::getline(in, id);
    return id;
}

}  // namespace execaudit::recorder
