// The container image as a node runs it: scripts/image builds the OCI archive, the testbed's
// containerd imports it, and the recorder runs from it with exactly what the node agent DaemonSet
// (deploy/kubernetes) gives it: its capabilities (and no others), its mounts, read-only root,
// the runtime's default seccomp profile, the host's pid namespace, its args and ConfigMap. It
// records a real session into another container of the testbed. Then each capability and each
// host mount is taken away in turn, and the agent must fail visibly without it: every privilege
// the DaemonSet asks for is one it needs.
#include "tests/deploy/manifests.h"
#include "tests/support/node_test.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <set>

using namespace execaudit::testing;
namespace fs = std::filesystem;

namespace {

/// Capabilities by name, as /proc/PID/status numbers their bits.
const std::map<std::string, int> kCapBits = {
    {"CHOWN", 0},          {"DAC_OVERRIDE", 1},    {"DAC_READ_SEARCH", 2}, {"FOWNER", 3},      {"FSETID", 4},
    {"KILL", 5},           {"SETGID", 6},          {"SETUID", 7},          {"SETPCAP", 8},     {"NET_BIND_SERVICE", 10},
    {"NET_RAW", 13},       {"IPC_LOCK", 14},       {"SYS_CHROOT", 18},     {"SYS_PTRACE", 19}, {"SYS_ADMIN", 21},
    {"SYS_RESOURCE", 24},  {"MKNOD", 27},          {"AUDIT_WRITE", 29},    {"SETFCAP", 31},    {"PERFMON", 38},
    {"BPF", 39},
};
/// What `ctr run` grants by default (containerd's default spec): all dropped, as `drop: [ALL]` does.
const std::vector<std::string> kRuntimeDefaultCaps = {"CHOWN",  "DAC_OVERRIDE", "FSETID",     "FOWNER",           "MKNOD",
                                                      "NET_RAW", "SETGID",      "SETUID",     "SETFCAP",          "SETPCAP",
                                                      "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"};

/// The image, built once for every test of this binary.
struct Image {
    std::string tar, error;
};
const Image& image() {
    static TempDir dir;
    static Image built;
    static std::once_flag once;
    std::call_once(once, [] {
        auto r = run({"env", "EXECAUDIT_BIN=" + execaudit_bin(), "IMAGE_NAME=execaudit:test", source_dir() + "/scripts/image",
                      dir.file("execaudit-image.tar")},
                     300s);
        if (r.exit_code == 0) built.tar = dir.file("execaudit-image.tar");
        else built.error = "scripts/image failed: " + r.err + r.out;
    });
    return built;
}

/// The node agent DaemonSet of the single-node overlay, and its config file.
struct NodeAgent {
    YAML::Node container, pod;
    std::string config;
};
NodeAgent node_agent() {
    auto built = kustomize("overlays/single-node");
    NodeAgent out;
    if (built.exit_code != 0) throw std::runtime_error("kubectl kustomize: " + built.err);
    for (const auto& doc : parse_documents(built.out)) {
        std::string kind = doc["kind"].as<std::string>();
        std::string name = doc["metadata"]["name"].as<std::string>();
        if (kind == "DaemonSet" && name == "execaudit-node-agent") {
            out.pod = doc["spec"]["template"]["spec"];
            out.container = out.pod["containers"][0];
        }
        if (kind == "ConfigMap" && name.rfind("execaudit-node-agent", 0) == 0) out.config = doc["data"]["config.yaml"].as<std::string>();
    }
    if (!out.container) throw std::runtime_error("no node agent DaemonSet in the single-node overlay");
    return out;
}

class ImageTest : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"buildah", "kubectl", "curl", "nsenter", "objcopy"}; }

    void SetUp() override {
        NodeTest::SetUp();
        if (IsSkipped()) return;
        const Image& img = image();
        ASSERT_TRUE(img.error.empty()) << img.error;
        auto imported = run(bed_->ctr({"images", "import", "--base-name", "execaudit", img.tar}), 120s);
        ASSERT_EQ(imported.exit_code, 0) << imported.err << imported.out;
        auto listed = run(bed_->ctr({"images", "ls", "-q"}));
        for (std::istringstream in(listed.out); std::getline(in, image_ref_);)
            if (image_ref_.find("execaudit") != std::string::npos) break;
        ASSERT_NE(image_ref_.find("execaudit"), std::string::npos) << listed.out;
        agent_ = node_agent();
        // A node's tracefs, as systemd mounts it (the DaemonSet mounts the host's, read-only). Left
        // mounted: the recorders of other tests mount the same when it is missing.
        if (!fs::exists("/sys/kernel/tracing/events")) {
            ASSERT_EQ(mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr), 0) << std::strerror(errno);
        }
        // The node's bpffs, private to this test.
        bpffs_ = dir_.file("bpffs");
        fs::create_directories(bpffs_);
        ASSERT_EQ(mount("bpf", bpffs_.c_str(), "bpf", 0, "mode=0700"), 0) << std::strerror(errno);
        // A pod on a cgroup v2 node gets a cgroup namespace of its own (containerd's CRI does that;
        // ctr does not): its /sys/fs/cgroup shows only itself. The agent joins one rooted at a
        // cgroup of its own, so it must find the host's tree through its hostPath mount.
        auto cg2 = run({"findmnt", "-t", "cgroup2", "-n", "-o", "TARGET"});
        ASSERT_EQ(cg2.exit_code, 0) << "no cgroup2 mount";
        cgns_dir_ = cg2.out.substr(0, cg2.out.find('\n')) + "/execaudit-imagetest-" + std::to_string(getpid()) + "-" +
                    fs::path(dir_.path()).filename().string();
        fs::create_directories(cgns_dir_);
        cgns_holder_ = std::make_unique<Process>(
            std::vector<std::string>{"sh", "-c", "echo $$ > " + cgns_dir_ + "/cgroup.procs && exec unshare --cgroup sleep 100000"},
            dir_.file("cgns.log"));
        std::string own = fs::read_symlink("/proc/self/ns/cgroup").string();
        ASSERT_TRUE(eventually([&] {
            std::error_code ec;
            auto ns = fs::read_symlink("/proc/" + std::to_string(cgns_holder_->pid()) + "/ns/cgroup", ec);
            return !ec && ns.string() != own;
        })) << read_file(dir_.file("cgns.log"));
    }
    void TearDown() override {
        agent_process_.reset();
        NodeTest::TearDown();
        cgns_holder_.reset();
        if (!cgns_dir_.empty()) eventually([&] { return ::rmdir(cgns_dir_.c_str()) == 0 || errno == ENOENT; }, 10s);
        if (!bpffs_.empty()) umount2(bpffs_.c_str(), MNT_DETACH);
    }

    /// Where each of the DaemonSet's volumes comes from on this test "node".
    std::string source_of(const YAML::Node& volume) {
        std::string name = volume["name"].as<std::string>();
        if (volume["hostPath"]) {
            std::string path = volume["hostPath"]["path"].as<std::string>();
            if (path == "/var/log/pods") return bed_->pods_log_dir();
            if (path == "/var/log/containers") return bed_->containers_log_dir();
            if (path == "/sys/fs/bpf") return bpffs_;
            if (path == "/var/lib/execaudit") return spool();
            return path;  // the cgroup tree and BTF are the machine's own
        }
        std::string dir = dir_.file("volume-" + name);
        fs::create_directories(dir);
        if (volume["configMap"]) std::ofstream(dir + "/config.yaml") << agent_.config;
        if (volume["secret"] && !fs::exists(dir + "/tls.crt")) {  // the webhook certificates, made as docs/deploy.md says
            auto r = run({source_dir() + "/deploy/kubernetes/certificates/openssl/make-certs", dir_.file("pki"), "execaudit-node-agent"});
            EXPECT_EQ(r.exit_code, 0) << r.err;
            for (const char* f : {"tls.crt", "tls.key", "ca.crt"}) fs::copy_file(dir_.file(std::string("pki/") + f), dir + "/" + f);
        }
        return dir;  // emptyDir
    }
    std::string spool() {
        std::string dir = dir_.file("spool");
        fs::create_directories(dir);
        return dir;
    }

    /// `ctr run` of the image as the DaemonSet describes it, less `drop_cap` or the mount of `drop_volume`.
    std::vector<std::string> run_argv(const std::string& drop_cap = "", const std::set<std::string>& drop_volumes = {}) {
        std::vector<std::string> args = {"run", "--read-only", "--with-ns", "pid:/proc/" + std::to_string(getpid()) + "/ns/pid", "--with-ns",
                                         "cgroup:/proc/" + std::to_string(cgns_holder_->pid()) + "/ns/cgroup"};
        const auto& sc = agent_.container["securityContext"];
        EXPECT_EQ(sc["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault");
        args.push_back("--seccomp");
        EXPECT_EQ(sc["capabilities"]["drop"][0].as<std::string>(), "ALL");
        for (const auto& c : kRuntimeDefaultCaps) args.insert(args.end(), {"--cap-drop", "CAP_" + c});
        for (const auto& c : sc["capabilities"]["add"].as<std::vector<std::string>>())
            if (c != drop_cap) args.insert(args.end(), {"--cap-add", "CAP_" + c});
        EXPECT_TRUE(agent_.pod["hostPID"].as<bool>(false));
        // containerd's CRI mounts parents before children (sorted by path depth), whatever the order in the spec.
        // (yaml-cpp's Node assignment writes through, so the order is sorted as indices.)
        auto all = agent_.container["volumeMounts"];
        std::vector<size_t> order(all.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        auto depth = [&](size_t i) {
            auto p = all[i]["mountPath"].as<std::string>();
            return std::count(p.begin(), p.end(), '/');
        };
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return depth(a) < depth(b); });
        for (size_t i : order) {
            const YAML::Node m = all[i];
            std::string name = m["name"].as<std::string>();
            if (drop_volumes.count(name)) continue;
            YAML::Node volume;
            for (const auto& v : agent_.pod["volumes"])
                if (v["name"].as<std::string>() == name) volume.reset(v);
            std::string options = m["readOnly"].as<bool>(false) ? "rbind:ro" : "rbind:rw";
            if (m["mountPropagation"].as<std::string>("") == "HostToContainer") options += ":rslave";
            args.insert(args.end(), {"--mount", "type=bind,src=" + source_of(volume) + ",dst=" + m["mountPath"].as<std::string>() +
                                                    ",options=" + options});
        }
        for (const auto& e : agent_.container["env"])
            if (e["name"].as<std::string>() == "NODE_NAME") args.insert(args.end(), {"--env", "NODE_NAME=test-node"});
        // The agent's own cgroup: outside the pod roots, under the testbed's prefix (removed with it).
        std::string prefix = bed_->cgroup_root().substr(0, bed_->cgroup_root().find('/', 1));
        args.insert(args.end(), {"--cgroup", prefix + "/agents/agent-" + std::to_string(runs_ + 1)});
        args.insert(args.end(), {image_ref_, "agent-" + std::to_string(++runs_), "/usr/bin/execaudit"});
        for (auto a : agent_.container["args"].as<std::vector<std::string>>()) {
            if (a == "$(NODE_NAME)") a = "test-node";  // the kubelet expands it from env
            args.push_back(a);
        }
        // The one difference from a node: this testbed's pod cgroups live under a prefix of their own.
        args.insert(args.end(), {"--cgroup-root", bed_->cgroup_root()});
        return bed_->ctr(args);
    }

    /// Starts the agent; true once it said ready, false if it exited first (its log says why).
    bool start_agent(const std::string& drop_cap = "", const std::set<std::string>& drop_volumes = {}) {
        log_ = dir_.file("agent-" + std::to_string(runs_ + 1) + ".log");
        auto argv = run_argv(drop_cap, drop_volumes);
        {
            std::ofstream cmd(log_ + ".argv");
            for (const auto& a : argv) cmd << a << "\n";
        }
        agent_process_ = std::make_unique<Process>(argv, log_);
        eventually([&] { return log().find("execaudit record: ready") != std::string::npos || !agent_process_->running(); }, 60s);
        return agent_process_->running() && log().find("execaudit record: ready") != std::string::npos;
    }
    std::string log() const { return "$ " + read_file(log_ + ".argv") + read_file(log_); }
    int stop_agent() {
        // As the kubelet stops a pod: SIGTERM to the container's process, then its exit status.
        run(bed_->ctr({"task", "kill", "-s", "SIGTERM", "agent-" + std::to_string(runs_)}));
        return agent_process_->wait(60s).value_or(-1);
    }
    pid_t agent_pid() {
        auto r = run(bed_->ctr({"task", "ls"}));
        std::istringstream in(r.out);
        for (std::string line; std::getline(in, line);) {
            std::istringstream fields(line);
            std::string id;
            pid_t pid = 0;
            if (fields >> id >> pid && id == "agent-" + std::to_string(runs_)) return pid;
        }
        return 0;
    }
    std::pair<int, std::string> agent_get(const std::string& path) {
        auto r = run({"nsenter", "--net=/proc/" + std::to_string(agent_pid()) + "/ns/net", "curl", "-s", "-w", "\n%{http_code}",
                      "http://127.0.0.1:9090" + path});
        auto nl = r.out.rfind('\n');
        if (nl == std::string::npos) return {0, r.out + r.err};
        return {std::atoi(r.out.c_str() + nl + 1), r.out.substr(0, nl)};
    }
    /// An interactive session into the testbed's pod container; returns its marker.
    void exec_session(const std::string& exec_id) {
        PtyProcess shell(bed_->exec_tty(container_, exec_id, {"/bin/bash", "--norc"}), 24, 80);
        ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
        ASSERT_TRUE(run_in(shell, "echo from-the-image-$((6*7))"));
        ASSERT_TRUE(run_in(shell, "ls /usr | head -1"));
        shell.type("exit 3\r");
        ASSERT_EQ(shell.wait(30s), 3);
    }
    std::string spool_db() { return spool() + "/sessions.db"; }

    NodeAgent agent_;
    std::string image_ref_, bpffs_, log_, cgns_dir_;
    std::unique_ptr<Process> agent_process_, cgns_holder_;
    int runs_ = 0;
};

TEST_F(ImageTest, RecordsASessionWithExactlyTheDaemonSetsPrivileges) {
    ASSERT_TRUE(start_agent()) << log();
    // Exactly the capabilities the DaemonSet adds, in every set that counts.
    pid_t pid = agent_pid();
    ASSERT_GT(pid, 0);
    uint64_t want = 0;
    for (const auto& c : agent_.container["securityContext"]["capabilities"]["add"].as<std::vector<std::string>>())
        want |= uint64_t{1} << kCapBits.at(c);
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    for (const char* set : {"CapEff:\t", "CapPrm:\t", "CapBnd:\t"}) {
        auto at = status.find(set);
        ASSERT_NE(at, std::string::npos);
        EXPECT_EQ(std::stoull(status.substr(at + strlen(set), 16), nullptr, 16), want) << set << " of the agent";
    }
    EXPECT_NE(status.find("Seccomp:\t2"), std::string::npos) << "not under the runtime's seccomp filter";

    EXPECT_EQ(agent_get("/healthz"), (std::pair<int, std::string>{200, "ok\n"}));
    EXPECT_EQ(agent_get("/readyz"), (std::pair<int, std::string>{200, "ready\n"}));
    exec_session("from-image-1");
    ASSERT_TRUE(eventually([&] { return fs::exists(spool_db()) && list_sessions(spool_db(), {"--since", "1h"}).size() == 1; }, 30s))
        << log();
    EXPECT_EQ(stop_agent(), 0) << log();

    auto sessions = list_sessions(spool_db());
    ASSERT_EQ(sessions.size(), 1u) << sessions.dump(2);
    EXPECT_EQ(sessions[0]["namespace"], "shop");
    EXPECT_EQ(sessions[0]["pod"], "web-7f9c");
    EXPECT_EQ(sessions[0]["container"], "app");
    EXPECT_EQ(sessions[0]["node"], "test-node");
    EXPECT_EQ(sessions[0]["exit_code"], 3);
    EXPECT_EQ(sessions[0]["lost_bytes"], 0);
    auto shown = show_session(spool_db(), sessions[0]["id"]);
    bool ls = false;
    for (const auto& c : shown["timeline"]) ls |= c["argv"][0] == "ls";
    EXPECT_TRUE(ls) << shown.dump(2);
    EXPECT_NE(play_cat(spool_db(), sessions[0]["id"]).find("from-the-image-42"), std::string::npos);
}

TEST_F(ImageTest, EveryCapabilityIsNeeded) {
    for (const auto& cap : agent_.container["securityContext"]["capabilities"]["add"].as<std::vector<std::string>>()) {
        bool ready = start_agent(cap);
        if (ready) {  // started: then it must not be able to record the session as the pod's
            exec_session("no-" + cap);
            bool recorded = eventually(
                [&] {
                    if (!fs::exists(spool_db())) return false;
                    auto list = list_sessions(spool_db());
                    return !list.empty() && list[0]["pod"] == "web-7f9c";
                },
                5s);
            stop_agent();
            EXPECT_FALSE(recorded) << "the agent recorded without CAP_" << cap << ": the DaemonSet does not need it\n" << log();
            std::cout << "without CAP_" << cap << ": started, " << (recorded ? "recorded the pod" : "did not record the pod") << "\n";
            fs::remove_all(spool());
        } else {
            std::cout << "without CAP_" << cap << ": " << log().substr(log().rfind("execaudit: ") == std::string::npos ? 0 : log().rfind("execaudit: "));
            EXPECT_NE(agent_process_->wait(1s).value_or(0), 0) << log();
        }
        agent_process_.reset();
    }
}

TEST_F(ImageTest, EveryHostMountIsNeeded) {
    // The kubelet's two log directories are one source of names with a fallback (pod_resolver.cpp:
    // /var/log/containers names all four, /var/log/pods the pod when that link is missing): taken
    // away together.
    std::vector<std::set<std::string>> groups;
    for (const auto& m : agent_.container["volumeMounts"]) {
        std::string name = m["name"].as<std::string>();
        bool host = false;
        for (const auto& v : agent_.pod["volumes"])
            if (v["name"].as<std::string>() == name && v["hostPath"]) host = true;
        if (!host || name == "containers-logs") continue;
        if (name == "pods-logs") {
            groups.push_back({"pods-logs", "containers-logs"});
            continue;
        }
        if (name == "bpffs" && run({execaudit_bin(), "help", "record"}).out.find("--bpf-pin-dir") == std::string::npos) {
            std::cout << "NOT CHECKED: the bpffs mount (this build does not pin its state yet: no record --bpf-pin-dir)\n";
            continue;
        }
        groups.push_back({name});
    }
    ASSERT_GE(groups.size(), 4u);
    for (const auto& drop : groups) {
        std::string names;
        for (const auto& n : drop) names += (names.empty() ? "" : " and ") + n;
        bool ready = start_agent("", drop);
        bool recorded = false;
        if (ready) {
            exec_session("no-" + *drop.begin());
            recorded = eventually(
                [&] {
                    if (!fs::exists(spool_db())) return false;
                    auto list = list_sessions(spool_db());
                    return !list.empty() && list[0]["pod"] == "web-7f9c";
                },
                5s);
            stop_agent();
        }
        EXPECT_FALSE(recorded) << "recorded with its pod's name without the " << names << " mount: the DaemonSet does not need it\n"
                               << log();
        std::cout << "without the " << names << " mount: "
                  << (!ready ? "did not start" : recorded ? "recorded the pod" : "started, did not record the pod") << "\n";
        agent_process_.reset();
        fs::remove_all(spool());
    }
}

}  // namespace

namespace {

/// "PATH" for a file, "PATH -> TARGET" for a symlink; directories left out.
std::set<std::string> archive_files(const std::string& tar) {
    auto index = nlohmann::json::parse(run({"tar", "-xOf", tar, "index.json"}).out);
    std::string manifest_blob = "blobs/sha256/" + index["manifests"][0]["digest"].get<std::string>().substr(7);
    auto manifest = nlohmann::json::parse(run({"tar", "-xOf", tar, manifest_blob}).out);
    std::set<std::string> out;
    for (const auto& layer : manifest["layers"]) {
        std::string blob = "blobs/sha256/" + layer["digest"].get<std::string>().substr(7);
        auto listing = run({"sh", "-c", "tar -xOf '" + tar + "' " + blob + " | tar -tvz"});
        std::istringstream in(listing.out);
        for (std::string line; std::getline(in, line);) {
            if (line.empty() || line[0] == 'd') continue;
            std::istringstream fields(line);
            std::string perms, owner, size, date, time, path;
            fields >> perms >> owner >> size >> date >> time;
            std::getline(fields >> std::ws, path);
            if (path.rfind("./", 0) == 0) path.erase(0, 2);
            out.insert(path);
        }
    }
    return out;
}

/// The files deploy/Containerfile's build stage puts in /image.
std::set<std::string> containerfile_files() {
    std::string text = read_file(source_dir() + "/deploy/Containerfile");
    std::set<std::string> out;
    std::istringstream in(text);
    bool in_list = false;
    std::regex install(R"(install -D -m 0755 \S+ (\S+);)"), link(R"(^\s*ln -s (\S+) ([^\s;]+);?)");
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (line.find("for f in \\") != std::string::npos) {
            in_list = true;
            continue;
        }
        if (in_list) {
            if (line.find("; do ") != std::string::npos) {
                in_list = false;
                continue;
            }
            std::istringstream words(line);
            std::string path;
            if (words >> path && path != "\\") out.insert(path);
        } else if (std::regex_search(line, m, install)) {
            out.insert(m[1]);
        } else if (std::regex_search(line, m, link)) {
            out.insert(std::string(m[2]) + " -> " + std::string(m[1]));
        }
    }
    return out;
}

std::string difference(const std::set<std::string>& a, const std::set<std::string>& b) {
    std::string out;
    for (const auto& x : a)
        if (!b.count(x)) out += "  " + x + "\n";
    return out;
}

TEST(ImageFiles, ContainerfileAndScriptsImageHoldTheSameFiles) {
    EA_REQUIRE(missing_privileges());  // buildah's storage as root
    EA_REQUIRE(missing_program("buildah"));
    EA_REQUIRE(missing_program("objcopy"));
    const Image& img = image();
    ASSERT_TRUE(img.error.empty()) << img.error;
    auto in_archive = archive_files(img.tar);
    ASSERT_TRUE(in_archive.count("usr/bin/execaudit")) << difference(in_archive, {});

    auto listed = run({"env", "EXECAUDIT_BIN=" + execaudit_bin(), source_dir() + "/scripts/image", "--list"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    std::set<std::string> script;
    std::istringstream in(listed.out);
    for (std::string line; std::getline(in, line);) script.insert(line);
    EXPECT_TRUE(script == in_archive) << "in `scripts/image --list` only:\n" << difference(script, in_archive) << "in the archive only:\n"
                                  << difference(in_archive, script);

    auto documented = containerfile_files();
    EXPECT_TRUE(documented == in_archive) << "deploy/Containerfile has drifted from scripts/image.\nin the Containerfile only:\n"
                                      << difference(documented, in_archive) << "in the image only (add them to its list):\n"
                                      << difference(in_archive, documented);

    // The same entry point.
    auto index = nlohmann::json::parse(run({"tar", "-xOf", img.tar, "index.json"}).out);
    auto manifest = nlohmann::json::parse(
        run({"tar", "-xOf", img.tar, "blobs/sha256/" + index["manifests"][0]["digest"].get<std::string>().substr(7)}).out);
    auto config = nlohmann::json::parse(
        run({"tar", "-xOf", img.tar, "blobs/sha256/" + manifest["config"]["digest"].get<std::string>().substr(7)}).out);
    EXPECT_EQ(config["config"]["Entrypoint"], nlohmann::json::array({"/usr/bin/execaudit"}));
    EXPECT_NE(read_file(source_dir() + "/deploy/Containerfile").find("ENTRYPOINT [\"/usr/bin/execaudit\"]"), std::string::npos);
}

}  // namespace
