// The cache the recorder reads: the spec that held when a session started, deleted pods kept a
// while, a refused version forgets what was known, static pods found by their mirror.
#include "recorder/pods/pod_cache.h"

#include <gtest/gtest.h>

using namespace execaudit::recorder;

namespace {

std::shared_ptr<const PodInfo> pod(const std::string& uid, const std::string& rv, const std::string& probe,
                                   const std::string& mirror = "") {
    auto p = std::make_shared<PodInfo>();
    p->uid = uid;
    p->name = "web";
    p->namespace_name = "shop";
    p->resource_version = rv;
    p->mirror_of = mirror;
    p->containers.push_back({"app", {{KubeletExec::Kind::probe, "liveness", {probe}}}, ""});
    return p;
}

std::string probe_of(const std::shared_ptr<const PodInfo>& p) { return p ? p->containers[0].execs[0].argv[0] : "none"; }

TEST(PodCache, TheVersionThatHeldAtATime) {
    int64_t now = 1000;
    PodCache cache({}, [&] { return now; });
    EXPECT_FALSE(cache.synced());
    cache.replaced({{"u1", pod("u1", "10", "v1")}});
    EXPECT_TRUE(cache.synced());
    now = 2000;
    cache.changed("u1", pod("u1", "11", "v2"));
    EXPECT_EQ(probe_of(cache.find("u1", 1500)), "v1");
    EXPECT_EQ(probe_of(cache.find("u1", 2500)), "v2");
    EXPECT_EQ(probe_of(cache.find("u1", 500)), "v1") << "before the first version arrived: the first one (it came late)";
    EXPECT_EQ(probe_of(cache.find("u1")), "v2");
    EXPECT_EQ(cache.size(), 1u);
}

TEST(PodCache, AStatusUpdateTakesNoVersionOfItsOwn) {
    // Most watch events change only a pod's status. Were each a version, a pod whose readiness flaps
    // would push the spec that held an hour ago out of the cache (and hold three copies of one spec).
    int64_t now = 1000;
    PodCache cache({.versions_per_pod = 2}, [&] { return now; });
    cache.replaced({{"u1", pod("u1", "10", "v1")}});
    now = 2000;
    cache.changed("u1", pod("u1", "11", "v2"));
    now = 2500;
    cache.changed("u1", pod("u1", "12", "v2"));  // readiness changed: nothing the agent keeps
    EXPECT_EQ(probe_of(cache.find("u1", 1500)), "v1") << "the spec before the change is still known";
    EXPECT_EQ(probe_of(cache.find("u1", 2200)), "v2") << "v2 held from its own arrival, not from the status update";
    EXPECT_EQ(cache.find("u1")->resource_version, "12") << "the newest object is kept (a relist compares its version)";
    now = 3000;
    cache.changed("u1", pod("u1", "13", "v3"));
    EXPECT_EQ(probe_of(cache.find("u1", 2200)), "v2");
    EXPECT_EQ(probe_of(cache.find("u1", 3500)), "v3");
}

TEST(PodCache, DeletedPodsStayAWhileAndRefusedOnesAreForgotten) {
    int64_t now = 1000;
    PodCache cache({.versions_per_pod = 3, .keep_deleted_ns = 100, .max_deleted = 10}, [&] { return now; });
    cache.replaced({{"u1", pod("u1", "10", "v1")}, {"u2", pod("u2", "10", "x")}});
    cache.changed("u1", nullptr);
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(probe_of(cache.find("u1", 1000)), "v1") << "a preStop hook is judged after its pod's deletion";
    now = 1200;
    cache.changed("u3", pod("u3", "12", "y"));
    EXPECT_FALSE(cache.find("u1")) << "kept for keep_deleted_ns only";
    cache.refused("u2");
    EXPECT_FALSE(cache.find("u2")) << "a version we refused: the older one does not hold any more";
    // a relist without u3: deleted
    cache.replaced({});
    EXPECT_EQ(cache.size(), 0u);
}

TEST(PodCache, StaticPodsByTheirConfigHash) {
    PodCache cache;
    cache.replaced({{"mirror-uid", pod("mirror-uid", "1", "m", "c0nf1gha5h")}});
    EXPECT_EQ(probe_of(cache.find("c0nf1gha5h")), "m");
}

TEST(PodCache, VersionsAreBounded) {
    int64_t now = 0;
    PodCache cache({.versions_per_pod = 2}, [&] { return now; });
    for (int i = 0; i < 10; ++i) {
        now = i * 10;
        cache.changed("u", pod("u", std::to_string(i), "v" + std::to_string(i)));
    }
    EXPECT_EQ(probe_of(cache.find("u", 85)), "v8") << "only the newest two are kept";
    EXPECT_EQ(probe_of(cache.find("u", 0)), "none") << "what held before them is not known: never a later spec";
}

std::shared_ptr<const PodInfo> padded(const std::string& uid, const std::string& rv, size_t bytes) {
    auto p = std::make_shared<PodInfo>(*pod(uid, rv, "v" + rv));
    p->labels["padding"] = std::string(bytes, 'p');
    return p;
}

// Whoever may create pods bound to this node may create and delete them as fast as the API server
// takes: each deleted pod is kept ten minutes (for a late preStop hook), so their bytes are bounded
// too, the oldest going first, counted.
TEST(PodCache, DeletedPodsAreBoundedInBytes) {
    int64_t now = 0;
    const size_t each = padded("x", "1", 10'000)->footprint();
    PodCache cache({.max_history_bytes = 10 * each}, [&] { return now; });
    cache.replaced({{"real", padded("real", "1", 10'000)}});
    for (int i = 0; i < 100; ++i) {
        now = i + 1;
        std::string uid = "flood-" + std::to_string(i);
        cache.changed(uid, padded(uid, "1", 10'000));
        cache.changed(uid, nullptr);
    }
    auto s = cache.stats();
    EXPECT_LE(s.history_bytes, 10 * each);
    EXPECT_GE(s.history_bytes, 9 * each);
    EXPECT_EQ(s.deleted_evicted, 90u);
    EXPECT_EQ(s.versions_evicted, 0u);
    EXPECT_FALSE(cache.find("flood-0")) << "the oldest deleted pods go first";
    EXPECT_TRUE(cache.find("flood-99")) << "the newest stay their while";
    EXPECT_TRUE(cache.find("real", 0)) << "a present pod's newest version is never history";
    EXPECT_EQ(cache.size(), 1u);
}

// Past the bound with no deleted pod left to drop, the oldest earlier versions go, and a session that
// started under a dropped version is judged as one whose spec is unknown, never by a later one.
TEST(PodCache, EarlierVersionsPastTheBoundAreDroppedAndWhatHeldUnderThemIsUnknown) {
    int64_t now = 0;
    const size_t each = padded("x", "1", 10'000)->footprint();
    PodCache cache({.max_history_bytes = 3 * each + each / 2}, [&] { return now; });
    cache.replaced({{"a", padded("a", "1", 10'000)}});
    now = 5;
    cache.changed("b", padded("b", "1", 10'000));
    now = 10;
    cache.changed("a", padded("a", "2", 10'000));
    now = 20;
    cache.changed("b", padded("b", "2", 10'000));
    now = 30;
    cache.changed("gone", padded("gone", "1", 10'000));
    cache.changed("gone", nullptr);
    EXPECT_EQ(cache.stats().versions_evicted, 0u) << "three pods' worth of history fit";
    now = 40;
    cache.changed("a", padded("a", "3", 10'000));  // a's version 2 becomes history: one too many
    auto s = cache.stats();
    EXPECT_EQ(s.deleted_evicted, 1u) << "the deleted pod goes first";
    EXPECT_EQ(s.versions_evicted, 0u);
    EXPECT_FALSE(cache.find("gone"));
    now = 50;
    cache.changed("b", padded("b", "3", 10'000));
    s = cache.stats();
    EXPECT_EQ(s.versions_evicted, 1u);
    EXPECT_LE(s.history_bytes, 3 * each + each / 2);
    EXPECT_FALSE(cache.find("a", 5)) << "a's version 1, the oldest, was dropped: what held then is unknown";
    EXPECT_EQ(probe_of(cache.find("a", 15)), "v2");
    EXPECT_EQ(probe_of(cache.find("b", 7)), "v1") << "b's history is whole";
    EXPECT_EQ(probe_of(cache.find("b", 55)), "v3");
}

}  // namespace
