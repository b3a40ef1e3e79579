#pragma once
// The fixture of the cluster end-to-end tests: the node of NodeTest, a private PostgreSQL, the
// collector's PKI, two `execaudit collect` replicas on it (each with its own upload port and audit
// webhook), and what a test does against them: post the API server's audit stages, run a whole
// audited exec, read the cluster store through the read commands' `--db postgresql://...`.
// More nodes: add_node() gives another testbed (a containerd and cgroup root of its own) with its
// own node certificate.

#include "tests/support/audit_fixtures.h"
#include "tests/support/cluster.h"
#include "tests/support/node_test.h"
#include "tests/support/postgres.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace execaudit::testing {

class ClusterTest : public NodeTest {
protected:
    std::vector<std::string> required_programs() const override { return {"curl", "openssl"}; }
    /// Extra flags of every collector (e.g. --audit-grace).
    virtual std::vector<std::string> collector_args() const { return {"--audit-grace", "4"}; }

    void SetUp() override {
        NodeTest::SetUp();
        if (HasFatalFailure() || IsSkipped()) return;
        EA_REQUIRE(missing_postgres());
        pg_ = std::make_unique<PostgresServer>();
        pki_ = std::make_unique<ClusterPki>(dir_.path());
        node_cert_ = pki_->issue_node("/CN=test-node", "test-node");
        for (int i = 0; i < 2; ++i) {
            upload_port_[i] = free_loopback_port();
            audit_port_[i] = free_loopback_port();
        }
    }
    void TearDown() override {
        for (auto& n : nodes_) n.recorder.reset();  // before their containers go
        nodes_.clear();
        NodeTest::TearDown();
        for (auto& c : collectors_) c.reset();
    }

    void start_collector(int i) {
        collectors_[i].reset();
        std::vector<std::string> args = {"--audit-webhook", "127.0.0.1:" + std::to_string(audit_port_[i]), "--client-ca",
                                         pki_->ca, "--client-subject", "kube-apiserver"};
        for (const auto& a : collector_args()) args.push_back(a);
        collectors_[i] = std::make_unique<Collector>(
            pg_->uri(), *pki_, dir_.file("collect-" + std::to_string(i) + "-" + std::to_string(++runs_) + ".log"), args,
            upload_port_[i]);
    }
    /// The flags that make a recorder upload to collector `i` with the certificate `cert`.
    std::vector<std::string> upload_args(const std::string& cert, int i = 0) const {
        return {"--collector", "https://127.0.0.1:" + std::to_string(upload_port_[i]), "--collector-ca", pki_->ca,
                "--collector-cert", cert, "--collector-key", ClusterPki::key_of(cert)};
    }
    std::vector<std::string> recorder_args() const { return upload_args(node_cert_); }
    int leader() {
        for (int i = 0; i < 2; ++i)
            if (collectors_[i] && collectors_[i]->metric("collector_leader") == 1) return i;
        return -1;
    }

    /// Another node: a testbed of its own, its certificate (CN `name`), its SQLite; started by start_node().
    struct Node {
        std::string name, cert, db;
        std::unique_ptr<Testbed> bed;
        std::unique_ptr<Recorder> recorder;
    };
    Node& add_node(const std::string& name) {
        Node n;
        n.name = name;
        n.cert = pki_->issue_node("/CN=" + name, name);
        n.db = dir_.file(name + ".db");
        n.bed = std::make_unique<Testbed>();
        nodes_.push_back(std::move(n));
        return nodes_.back();
    }
    void start_node(Node& n, int collector, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = upload_args(n.cert, collector);
        args.insert(args.end(), {"--node-name", n.name});
        args.insert(args.end(), extra.begin(), extra.end());
        n.recorder = std::make_unique<Recorder>(*n.bed, n.db, args);
    }

    CurlResult post_audit(int i, const std::vector<nlohmann::json>& items, const std::string& cert = "") {
        return curl_post("https://127.0.0.1:" + std::to_string(audit_port_[i]) + "/audit", event_list(items), dir_.path(),
                         curl_tls(*pki_, cert.empty() ? pki_->apiserver_cert : cert));
    }
    /// An exec by `user` into shop/`pod`, container app, received now.
    static ExecCall call(const std::string& id, const std::string& user, std::vector<std::string> command,
                         const std::string& pod = "web-7f9c", bool tty = true) {
        ExecCall c;
        c.audit_id = id;
        c.user = user;
        c.ns = "shop";
        c.pod = pod;
        c.container = "app";
        c.command = std::move(command);
        c.tty = tty;
        c.received_ns = now_ns();
        return c;
    }
    /// A whole interactive exec as the API server audits it (to collector `collector`), with the
    /// session it asked for in `container` of `bed`; the shell prints `exec_id`.
    void exec_as(int collector, const ExecCall& c, const std::string& exec_id, const Testbed& bed,
                 const std::string& container) {
        ASSERT_EQ(post_audit(collector, {audit_stage(c, "RequestReceived", c.received_ns, 0)}).status, 200);
        int64_t upgraded = now_ns();
        {
            PtyProcess shell(bed.exec_tty(container, exec_id, c.command), 24, 80);
            ASSERT_TRUE(shell.wait_for("# ", 20s)) << shell.output();
            shell.type("echo " + exec_id + "; exit\r");
            ASSERT_EQ(shell.wait(20s), 0);
        }
        auto r = post_audit(collector, {audit_stage(c, "ResponseStarted", upgraded, 101),
                                        audit_stage(c, "ResponseComplete", now_ns(), 101)});
        ASSERT_EQ(r.status, 200) << r.body;
    }
    void exec_as(int collector, const ExecCall& c, const std::string& exec_id) { exec_as(collector, c, exec_id, *bed_, container_); }

    /// A read command against the cluster store, as JSON (an empty array when it fails).
    nlohmann::json cluster(const std::vector<std::string>& args) {
        std::vector<std::string> argv = {execaudit_bin()};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--db", pg_->uri(), "--format", "json"});
        auto r = run(argv);
        return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::array();
    }
    nlohmann::json cluster_session_of(const std::string& user) {
        for (const auto& s : cluster({"sessions", "--all"}))
            if (s["user"] == user) return s;
        return nlohmann::json::object();
    }
    std::string request_state(const std::string& audit_id) {
        for (const auto& r : cluster({"audit-events"}))
            if (r["audit_id"] == audit_id) return r["state"];
        return "";
    }
    std::string logs() {
        std::string out = recorder_ ? recorder_->log() : "";
        for (auto& n : nodes_)
            if (n.recorder) out += "\n--- recorder of " + n.name + " ---\n" + n.recorder->log();
        for (auto& c : collectors_)
            if (c) out += "\n--- collector ---\n" + c->log();
        return out;
    }

    std::unique_ptr<PostgresServer> pg_;
    std::unique_ptr<ClusterPki> pki_;
    std::unique_ptr<Collector> collectors_[2];
    uint16_t upload_port_[2] = {}, audit_port_[2] = {};
    std::string node_cert_;
    std::deque<Node> nodes_;  // a deque: add_node()'s references stay valid
    int runs_ = 0;
};

}  // namespace execaudit::testing
