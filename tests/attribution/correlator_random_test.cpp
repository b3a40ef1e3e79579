// The invariant, over thousands of seeded interleavings: no verdict ever names a user who is not
// the session's true user, at any step. Each case is one pod with twins (the same command into
// the same container), denied and failed neighbours, node-side entries, clock skew of either
// sign, honest and adversarial clients (who delay their streams up to the setup bound, close
// them early or keep them open), and every stage delivered late, out of order, or not at all.
// Within the stated bounds (|skew| <= --audit-skew, deliveries within --audit-grace) nothing may
// be named wrongly, and most cases must still be named (a correlator that never names anyone
// would pass the invariant alone).
//
// EXECAUDIT_RANDOM_SEEDS=N runs N cases instead of the default; a failure prints its seed.
#include "tests/attribution/random_cases.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

using namespace execaudit::attribution;
using namespace execaudit::testing;

namespace {

size_t seeds() {
    const char* env = std::getenv("EXECAUDIT_RANDOM_SEEDS");
    return env ? std::strtoul(env, nullptr, 10) : 5000;
}

TEST(CorrelatorRandom, NoVerdictEverNamesTheWrongUser) {
    size_t cases = seeds(), named = 0, sessions = 0, events = 0, ambiguous = 0, findings = 0;
    for (uint64_t seed = 1; seed <= cases; ++seed) {
        RandomCase c(seed);
        std::vector<std::string> wrong;
        std::map<std::string, std::string> last;
        Correlator correlator(
            c.options(),
            [&](const SessionVerdict& v) {
                last[v.session_id] = to_string(v.attribution);
                if (!v.request) return;
                auto truth = c.truth.find(v.session_id);
                std::string want = truth == c.truth.end() ? "(nobody)" : truth->second;
                if (v.request->identity.user != want)
                    wrong.push_back(v.session_id + " named " + v.request->identity.user + ", was " + want);
            },
            [](const RequestVerdict&) {});
        c.play(correlator);
        ASSERT_TRUE(wrong.empty()) << "seed " << seed << ": " << wrong.front() << "\n" << c.describe();
        for (const auto& [id, user] : c.all_sessions) {
            ++sessions;
            if (last[id] == "audit") ++named;
            if (last[id] == "ambiguous") ++ambiguous;
            if (last[id] == "unattributed") ++findings;
            // Once everything settled, a node-side entry is never silent.
            if (user.empty()) {
                EXPECT_TRUE(last[id] == "unattributed" || last[id] == "ambiguous") << "seed " << seed << " " << id;
            }
        }
        events += c.events_played;
    }
    std::cout << "[ random ] " << cases << " interleavings, " << events << " events, " << sessions << " sessions: " << named
              << " named (all correctly), " << ambiguous << " ambiguous, " << findings << " unattributed\n";
    // Honest concurrency is common: most sessions must still be named.
    EXPECT_GT(named, sessions / 3);
}

}  // namespace
