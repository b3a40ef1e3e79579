#include "replay/time_axis.h"

#include <gtest/gtest.h>

using execaudit::replay::TimeAxis;

namespace {

constexpr uint64_t kSec = 1'000'000;

TEST(TimeAxis, LongPausesPlayAsTheIdleLimit) {
    // events at 0, 1 s, 61 s (a one-minute pause) and the end at 62 s; limit 2 s
    TimeAxis axis({0, 1 * kSec, 61 * kSec}, 62 * kSec, 2 * kSec);
    EXPECT_EQ(axis.played_duration(), 4 * kSec);  // 1 + 2 + 1
    EXPECT_EQ(axis.to_played(1 * kSec), 1 * kSec);
    EXPECT_EQ(axis.to_played(2 * kSec), 2 * kSec);
    EXPECT_EQ(axis.to_played(30 * kSec), 3 * kSec);  // deep in the pause: its played part is over
    EXPECT_EQ(axis.to_played(61 * kSec), 3 * kSec);
    EXPECT_EQ(axis.to_recorded(2500'000), 2500'000u);
    EXPECT_EQ(axis.to_recorded(3 * kSec), 61 * kSec);  // jumps over the cut part
    EXPECT_EQ(axis.to_recorded(3500'000), 61500'000u);
    EXPECT_EQ(axis.to_recorded(10 * kSec), 62 * kSec);
}

TEST(TimeAxis, ShortPausesAndNoLimitAreUntouched) {
    TimeAxis off({0, 1 * kSec, 61 * kSec}, 62 * kSec, 0);
    EXPECT_EQ(off.played_duration(), 62 * kSec);
    for (uint64_t t : std::initializer_list<uint64_t>{0, 5, 1234567, 61 * kSec}) {
        EXPECT_EQ(off.to_played(t), t);
        EXPECT_EQ(off.to_recorded(t), t);
    }
    TimeAxis calm({500'000, 1500'000}, 3 * kSec, 2 * kSec);
    EXPECT_EQ(calm.played_duration(), 3 * kSec);
}

TEST(TimeAxis, RoundTripsOnThePlayedAxis) {
    TimeAxis axis({0, 7, 7, 9 * kSec, 100 * kSec, 100 * kSec + 3}, 200 * kSec, 2 * kSec);
    for (uint64_t p = 0; p < axis.played_duration(); p += 12'345) EXPECT_EQ(axis.to_played(axis.to_recorded(p)), p);
}

}  // namespace
