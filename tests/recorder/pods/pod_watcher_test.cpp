// The pod watcher against a real HTTPS server process that speaks the API's list/watch wire format
// (tests/support/kube_api_server.py): paging, bookmarks, 410 Gone, dropped and stalled streams,
// garbage and oversized lines, 5xx, token rotation, client certificates, a CA that does not sign
// the server. Nothing here needs privileges.
#include "recorder/pods/kube_config.h"
#include "recorder/pods/pod_cache.h"
#include "recorder/pods/pod_watcher.h"
#include "tests/support/environment.h"
#include "tests/support/kube_api.h"
#include "tests/support/process.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>

using namespace execaudit;
using namespace execaudit::recorder;
using namespace execaudit::testing;
using nlohmann::json;

namespace {

KubePodSpec pod_spec(const std::string& name, const std::string& uid, const std::string& node = "node-a") {
    KubePodSpec s;
    s.name = name;
    s.uid = uid;
    s.node = node;
    s.execs = {{"app", "livenessProbe", {"cat", "/tmp/healthy"}}};
    return s;
}

std::string dump(const PodWatcherStats& s) {
    return fmt::format(" garbage={} oversized={} events={} lists={} failures={} last_error={}", s.watch.garbage_lines,
                       s.watch.oversized_lines, s.watch.events, s.watch.lists, s.stream_failures, s.last_error);
}

class PodWatcherTest : public ::testing::Test {
protected:
    void SetUp() override {
        EA_REQUIRE(missing_program("curl"));
        EA_REQUIRE(missing_program("openssl"));
        std::ofstream(dir_.file("token")) << "token-1\n";
        api_ = std::make_unique<KubeApiServer>(dir_.path(), "token-1");
    }

    KubeConfig config() const {
        return load_kubeconfig(api_->kubeconfig("kubeconfig", {{"tokenFile", dir_.file("token")}}));
    }

    PodWatcher::Options options(size_t page_size = 500) const {
        PodWatcher::Options o;
        o.node_name = "node-a";
        o.watch_timeout = std::chrono::seconds(30);
        o.watch_grace = std::chrono::seconds(2);
        o.request_timeout = std::chrono::seconds(10);
        o.backoff_floor = std::chrono::milliseconds(50);
        o.backoff_ceiling = std::chrono::milliseconds(500);
        o.page_size = page_size;
        return o;
    }

    void add(const KubePodSpec& s) { api_->control("add", {{"pod", kube_pod(s)}}); }

    /// The watch requests the server received, newest last.
    std::vector<json> watches() {
        std::vector<json> out;
        json state = api_->state();  // not in the range expression: that temporary would be gone
        for (const auto& r : state["requests"])
            if (r["query"].value("watch", "") == "true") out.push_back(r);
        return out;
    }
    bool watching(size_t n = 1) { return api_->state()["watches"].get<int>() >= static_cast<int>(n); }

    TempDir dir_;
    std::unique_ptr<KubeApiServer> api_;
    PodCache cache_;
};

TEST_F(PodWatcherTest, ListsThisNodesPodsInPagesThenWatchesWithBookmarks) {
    add(pod_spec("web-1", "u1"));
    add(pod_spec("web-2", "u2"));
    add(pod_spec("web-3", "u3"));
    add(pod_spec("elsewhere", "u4", "node-b"));
    PodWatcher watcher(config(), options(/*page_size=*/2), cache_);
    ASSERT_TRUE(eventually([&] { return cache_.synced() && watching(); })) << api_->log();
    EXPECT_EQ(cache_.size(), 3u);
    ASSERT_TRUE(cache_.find("u2"));
    EXPECT_EQ(cache_.find("u2")->name, "web-2");
    EXPECT_FALSE(cache_.find("u4")) << "a pod of another node";

    // what was asked: this node's pods, in pages of two, then a watch with bookmarks and a timeout
    auto requests = api_->state()["requests"];
    ASSERT_GE(requests.size(), 3u);
    EXPECT_EQ(requests[0]["query"]["fieldSelector"], "spec.nodeName=node-a");
    EXPECT_EQ(requests[0]["query"]["limit"], "2");
    EXPECT_FALSE(requests[0]["query"].contains("continue"));
    EXPECT_TRUE(requests[1]["query"].contains("continue")) << "the second page";
    EXPECT_EQ(requests[0]["token"], "token-1");
    auto w = watches();
    ASSERT_FALSE(w.empty()) << api_->state().dump();
    EXPECT_EQ(w.back()["query"]["allowWatchBookmarks"], "true");
    EXPECT_EQ(w.back()["query"]["fieldSelector"], "spec.nodeName=node-a");
    int timeout = std::stoi(w.back()["query"]["timeoutSeconds"].get<std::string>());
    EXPECT_GE(timeout, 30);
    EXPECT_LT(timeout, 60);

    // events move the cache; a deleted pod is no longer counted
    add(pod_spec("web-5", "u5"));
    ASSERT_TRUE(eventually([&] { return cache_.find("u5") != nullptr; }));
    api_->control("delete", {{"uid", "u1"}});
    ASSERT_TRUE(eventually([&] { return cache_.size() == 3u; }));

    // a bookmark moves the version the next watch resumes from, without any pod changing
    int bookmark_rv = api_->control("bookmark")["rv"].get<int>();
    ASSERT_TRUE(eventually([&] { return watcher.stats().watch.bookmarks >= 1; }));
    api_->control("drop");  // the stream is cut mid-object
    ASSERT_TRUE(eventually([&] {
        auto all = watches();
        return all.size() >= 2 && all.back()["query"]["resourceVersion"] == std::to_string(bookmark_rv);
    })) << "the watch resumes from the bookmark";
    auto st = watcher.stats();
    EXPECT_EQ(st.watch.lists, 1u) << "a dropped stream resumes; it does not list again";
    EXPECT_GE(st.stream_failures, 1u);
}

TEST_F(PodWatcherTest, GoneListsAgainAndAPodAddedMeanwhileIsKnown) {
    add(pod_spec("web-1", "u1"));
    PodWatcher watcher(config(), options(), cache_);
    ASSERT_TRUE(eventually([&] { return cache_.synced() && watching(); }));
    // the watch is cut; meanwhile the server compacts past our version and a pod arrives
    api_->control("stall");
    api_->control("compact");
    add(pod_spec("late", "u9"));
    api_->control("unstall");
    ASSERT_TRUE(eventually([&] { return cache_.find("u9") != nullptr; }, 30s)) << api_->log();
    auto st = watcher.stats();
    EXPECT_GE(st.watch.gone, 1u) << "410 Gone seen as an ERROR event";
    EXPECT_GE(st.watch.lists, 2u) << "and answered with a new list";

    // 410 as an ERROR event on an open stream
    api_->control("gone");
    ASSERT_TRUE(eventually([&] { return watcher.stats().watch.lists >= 3; }));
}

TEST_F(PodWatcherTest, RotatedTokenIsReadAgainAndA401IsRetried) {
    PodWatcher watcher(config(), options(), cache_);
    ASSERT_TRUE(eventually([&] { return cache_.synced() && watching(); }));
    // the kubelet rotates the token: the file changes, the server accepts only the new one
    api_->control("token", {{"token", "token-2"}});
    api_->control("drop");
    ASSERT_TRUE(eventually([&] { return watcher.stats().unauthorized >= 1; })) << "401 while the file holds the old token";
    std::ofstream(dir_.file("token")) << "token-2\n";
    add(pod_spec("after-rotation", "u7"));
    ASSERT_TRUE(eventually([&] { return cache_.find("u7") != nullptr; })) << api_->log();
    auto w = watches();
    ASSERT_FALSE(w.empty());
    EXPECT_EQ(w.back()["token"], "token-2");
    EXPECT_TRUE(w.back()["ok"].get<bool>());
    EXPECT_NE(watcher.stats().last_error.find("401"), std::string::npos);
}

TEST_F(PodWatcherTest, GarbageAndOversizedLinesAreCountedAndTheStreamGoesOn) {
    auto o = options();
    o.max_object_bytes = 64 << 10;
    PodWatcher watcher(config(), o, cache_);
    ASSERT_TRUE(eventually([&] { return cache_.synced() && watching(); }));
    api_->control("raw", {{"data", "this is not json\n{\"type\":\"ADDED\"}\n"}});
    KubePodSpec big = pod_spec("big", "u-big");
    big.labels["padding"] = std::string(100 << 10, 'x');
    add(big);
    add(pod_spec("after", "u-after"));
    ASSERT_TRUE(eventually([&] { return cache_.find("u-after") != nullptr; })) << api_->log() << api_->state().dump() << dump(watcher.stats());
    auto st = watcher.stats();
    EXPECT_EQ(st.watch.garbage_lines, 2u);
    EXPECT_EQ(st.watch.oversized_lines, 1u);
    EXPECT_FALSE(cache_.find("u-big")) << "an object over the bound is never kept";
    EXPECT_EQ(st.watch.lists, 1u) << "the same stream went on";
}

TEST_F(PodWatcherTest, AStreamThatStallsMidObjectIsDroppedAfterItsTimeout) {
    auto o = options();
    o.watch_timeout = std::chrono::seconds(1);
    o.watch_grace = std::chrono::seconds(1);
    PodWatcher watcher(config(), o, cache_);
    ASSERT_TRUE(eventually([&] { return cache_.synced() && watching(); }));
    api_->control("stall");  // half an object, then nothing, connection open
    ASSERT_TRUE(eventually([&] { return watcher.stats().stream_failures >= 1; }, 30s));
    api_->control("unstall");
    add(pod_spec("after-stall", "u8"));
    ASSERT_TRUE(eventually([&] { return cache_.find("u8") != nullptr; }));
    EXPECT_NE(watcher.stats().last_error.find("quiet"), std::string::npos) << watcher.stats().last_error;
}

TEST_F(PodWatcherTest, ServerErrorsAreRetriedWithBackoff) {
    add(pod_spec("web-1", "u1"));
    api_->control("fail", {{"status", 503}, {"count", 3}});
    PodWatcher watcher(config(), options(), cache_);
    ASSERT_TRUE(eventually([&] { return cache_.synced(); }));
    auto st = watcher.stats();
    EXPECT_EQ(st.http_errors, 3u);
    EXPECT_TRUE(cache_.find("u1"));
}

TEST_F(PodWatcherTest, AServerTheCADoesNotSignIsRefused) {
    KubeConfig c = config();
    c.tls.ca_file = api_->rogue_ca();
    PodWatcher watcher(c, options(), cache_);
    ASSERT_TRUE(eventually([&] { return watcher.stats().connect_failures >= 2; }));
    EXPECT_FALSE(cache_.synced());
    EXPECT_NE(watcher.stats().last_error.find("certificate"), std::string::npos) << watcher.stats().last_error;
    EXPECT_TRUE(api_->state()["requests"].empty()) << "no request (no token) went to it";
}

TEST_F(PodWatcherTest, ClientCertificateFromKubeconfigData) {
    add(pod_spec("web-1", "u1"));
    auto b64 = [](const std::string& f) { return run({"base64", "-w0", f}).out; };
    KubeConfig c = load_kubeconfig(api_->kubeconfig(
        "cert.kubeconfig",
        {{"client-certificate-data", b64(api_->pki().client_cert)}, {"client-key-data", b64(api_->pki().client_key)}},
        /*ca_data=*/true));
    EXPECT_TRUE(c.token.empty() && c.token_file.empty());
    PodWatcher watcher(c, options(), cache_);
    ASSERT_TRUE(eventually([&] { return cache_.find("u1") != nullptr; })) << api_->log();
    EXPECT_EQ(api_->state()["requests"][0]["token"], "cert");
}

}  // namespace
