#include "recorder/pods/pod_watch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace execaudit::recorder;

namespace {

std::string pod(const std::string& name, const std::string& uid, const std::string& rv) {
    return R"({"kind":"Pod","metadata":{"name":")" + name + R"(","namespace":"ns","uid":")" + uid +
           R"(","resourceVersion":")" + rv + R"("},"spec":{"containers":[{"name":"app","livenessProbe":{"exec":{"command":["true"]}}}]}})";
}

std::string list(const std::vector<std::string>& items, const std::string& rv, const std::string& cont = "") {
    std::string out = R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":")" + rv + R"(")";
    if (!cont.empty()) out += R"(,"continue":")" + cont + R"(")";
    out += R"(},"items":[)";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
    return out + "]}";
}

std::string event(const std::string& type, const std::string& object) {
    return R"({"type":")" + type + R"(","object":)" + object + "}";
}

const std::string kGone = event("ERROR", R"J({"kind":"Status","apiVersion":"v1","status":"Failure",
  "message":"too old resource version: 1 (4711)","reason":"Expired","code":410})J");

TEST(PodWatch, ListThenEventsMoveTheVersion) {
    PodWatchState state;
    EXPECT_TRUE(state.needs_list());
    ASSERT_TRUE(state.apply_list_page(list({pod("a", "ua", "10")}, "100"), true).ok);
    EXPECT_EQ(state.resource_version(), "100");
    ASSERT_TRUE(state.find("ns", "a"));
    EXPECT_EQ(state.apply_line(event("ADDED", pod("b", "ub", "101"))), PodWatchState::Line::applied);
    EXPECT_EQ(state.resource_version(), "101");
    EXPECT_EQ(state.apply_line(event("BOOKMARK", R"({"kind":"Pod","metadata":{"resourceVersion":"150"}})")),
              PodWatchState::Line::bookmark);
    EXPECT_EQ(state.resource_version(), "150");
    EXPECT_EQ(state.apply_line(event("DELETED", pod("a", "ua", "151"))), PodWatchState::Line::applied);
    EXPECT_FALSE(state.find("ns", "a"));
    EXPECT_TRUE(state.find("ns", "b"));
}

TEST(PodWatch, GoneMeansListAgainAndTheListReplacesTheCache) {
    PodWatchState state;
    state.apply_list_page(list({pod("a", "ua", "10")}, "100"), true);
    EXPECT_EQ(state.apply_line(kGone), PodWatchState::Line::gone);
    EXPECT_TRUE(state.needs_list());
    EXPECT_TRUE(state.find("ns", "a"));  // what is known stays usable until the relist
    // Paged: the cache changes only with the last page; a pod deleted meanwhile is gone.
    auto first = state.apply_list_page(list({pod("b", "ub", "300")}, "", "tok"), true);
    ASSERT_TRUE(first.ok);
    EXPECT_EQ(first.continue_token, "tok");
    EXPECT_TRUE(state.find("ns", "a"));
    ASSERT_TRUE(state.apply_list_page(list({pod("c", "uc", "301")}, "400"), false).ok);
    EXPECT_FALSE(state.find("ns", "a"));
    EXPECT_TRUE(state.find("ns", "b"));
    EXPECT_TRUE(state.find("ns", "c"));
    EXPECT_EQ(state.resource_version(), "400");
    EXPECT_EQ(state.counters().gone, 1u);
    EXPECT_EQ(state.counters().lists, 2u);
}

TEST(PodWatch, StreamInAnyChunkingWithGarbageAndOversizedLines) {
    PodWatchState state(512);
    state.apply_list_page(list({}, "1"), true);
    std::string stream = event("ADDED", pod("a", "ua", "2")) + "\n" + "garbage{\n" + "\n" +
                         std::string(2000, 'x') + "\n" + event("ADDED", pod("b", "ub", "3")) + "\n" +
                         event("MODIFIED", pod("b", "ub", "4"));  // stops mid-stream: no newline yet
    std::vector<PodWatchState::Line> lines;
    for (size_t at = 0; at < stream.size(); at += 7)
        state.feed(std::string_view(stream).substr(at, 7), [&](auto line) { lines.push_back(line); });
    using L = PodWatchState::Line;
    EXPECT_EQ(lines, (std::vector<L>{L::applied, L::garbage, L::oversized, L::applied}));
    EXPECT_EQ(state.resource_version(), "3");
    state.reset_stream();  // the connection dropped mid-object: that half line is not applied
    state.feed("\n", [&](auto line) { lines.push_back(line); });
    EXPECT_EQ(lines.size(), 4u);
    EXPECT_EQ(state.counters().garbage_lines, 1u);
    EXPECT_EQ(state.counters().oversized_lines, 1u);
}

TEST(PodWatch, HostileEventsAreCountedNotApplied) {
    PodWatchState state;
    state.apply_list_page(list({}, "1"), true);
    using L = PodWatchState::Line;
    EXPECT_EQ(state.apply_line(R"({"type":"ADDED","object":"x"})"), L::garbage);
    EXPECT_EQ(state.apply_line(R"({"type":"WHATEVER","object":{}})"), L::garbage);
    EXPECT_EQ(state.apply_line(R"({"type":"ADDED","object":{"metadata":{}}})"), L::garbage);  // no version
    EXPECT_EQ(state.apply_line(event("ERROR", R"({"kind":"Status","code":500})")), L::error);
    EXPECT_EQ(state.apply_line(event("ERROR", R"({"kind":"Status","code":"410"})")), L::error);
    EXPECT_EQ(state.resource_version(), "1");
    EXPECT_EQ(state.apply_line(event("ADDED", R"({"metadata":{"resourceVersion":"5","name":"p"},"spec":{}})")),
              L::applied);  // no uid: refused, but the stream resumes past it
    EXPECT_EQ(state.counters().refused_pods, 1u);
    EXPECT_TRUE(state.pods().empty());
    EXPECT_FALSE(state.apply_list_page(R"({"kind":"Status","code":401})", true).ok);
    EXPECT_FALSE(state.apply_list_page("[]", true).ok);
}

}  // namespace

namespace {

struct Recorded : PodWatchListener {
    std::vector<std::string> log;
    void replaced(const PodWatchState::PodMap& pods) override { log.push_back("replaced " + std::to_string(pods.size())); }
    void changed(const std::string& uid, std::shared_ptr<const PodInfo> pod) override {
        log.push_back((pod ? "changed " : "deleted ") + uid);
    }
    void refused(const std::string& uid) override { log.push_back("refused " + uid); }
};

TEST(PodWatch, ARefusedNewVersionForgetsTheOldOne) {
    PodWatchState state(1 << 20, PodLimits{.max_labels = 1});
    Recorded listener;
    state.set_listener(&listener);
    ASSERT_TRUE(state.apply_list_page(list({pod("a", "ua", "10")}, "100"), true).ok);
    // an update that breaks the limits: its probes can no longer be trusted to be the old ones
    std::string too_many_labels = R"({"kind":"Pod","metadata":{"name":"a","namespace":"ns","uid":"ua","resourceVersion":"101",
      "labels":{"x":"1","y":"2"}},"spec":{"containers":[{"name":"app"}]}})";
    EXPECT_EQ(state.apply_line(event("MODIFIED", too_many_labels)), PodWatchState::Line::applied);
    EXPECT_FALSE(state.find("ns", "a"));
    EXPECT_EQ(state.counters().refused_pods, 1u);
    ASSERT_EQ(listener.log.size(), 2u);
    EXPECT_EQ(listener.log[0], "replaced 1");
    EXPECT_EQ(listener.log[1], "refused ua");
}

}  // namespace

// Anyone who may create pods may bind as many as they like to this node, each up to the object
// bound: the pods kept are bounded as a whole, and a pod past the bound fails closed (refused,
// counted, its spec unknown), never by growing the recorder until the kernel kills it.
TEST(PodWatch, ThePodsKeptAreBoundedAsAWhole) {
    std::string error;
    auto parsed = parse_pod(pod("p0", "u0", "1"), error);
    ASSERT_TRUE(parsed) << error;
    const size_t each = parsed->footprint();
    ASSERT_GT(each, 100u);
    PodWatchState state(4u << 20, {}, 3 * each + each / 2);  // room for three such pods
    std::vector<std::string> items;
    for (int i = 0; i < 5; ++i) items.push_back(pod("p" + std::to_string(i), "u" + std::to_string(i), "1"));
    ASSERT_TRUE(state.apply_list_page(list(items, "10"), true).ok);
    EXPECT_EQ(state.pods().size(), 3u);
    EXPECT_EQ(state.counters().over_budget_pods, 2u);
    EXPECT_EQ(state.counters().refused_pods, 2u);
    EXPECT_EQ(state.kept_bytes(), 3 * each);
    EXPECT_FALSE(state.find("ns", "p4")) << "past the bound: not kept";

    // Watched: a new pod past the bound is refused; one deleted makes room.
    state.apply_line(event("ADDED", pod("p5", "u5", "11")));
    EXPECT_FALSE(state.find("ns", "p5"));
    EXPECT_EQ(state.counters().over_budget_pods, 3u);
    state.apply_line(event("DELETED", pod("p0", "u0", "12")));
    EXPECT_EQ(state.kept_bytes(), 2 * each);
    state.apply_line(event("ADDED", pod("p5", "u5", "13")));
    EXPECT_TRUE(state.find("ns", "p5"));
    // A kept pod modified as it was costs what it cost: it is replaced, not counted twice.
    state.apply_line(event("MODIFIED", pod("p5", "u5", "14")));
    EXPECT_TRUE(state.find("ns", "p5"));
    EXPECT_EQ(state.kept_bytes(), 3 * each);

    // A kept pod that grows past the bound is forgotten, not kept stale.
    std::string big = pod("p1", "u1", "15");
    big.replace(big.find(R"("uid")"), 0, R"("labels":{"grown":")" + std::string(each, 'x') + R"("},)");
    state.apply_line(event("MODIFIED", big));
    EXPECT_FALSE(state.find("ns", "p1"));
    EXPECT_EQ(state.kept_bytes(), 2 * each);
    EXPECT_EQ(state.counters().over_budget_pods, 4u);
}
