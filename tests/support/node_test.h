#pragma once
// The fixture of every end-to-end test: a private containerd with one pod container
// (shop/web-7f9c, container app), a database path, and the recorder when a test starts it.
// Skips with the exact reason when the machine cannot run containers.

#include "tests/support/testbed.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace execaudit::testing {

class NodeTest : public ::testing::Test {
protected:
    /// Programs the test needs beyond containerd and runc (e.g. curl).
    virtual std::vector<std::string> required_programs() const { return {}; }

    void SetUp() override {
        EA_REQUIRE(missing_privileges());
        for (const auto& p : std::vector<std::string>{"containerd", "runc"}) EA_REQUIRE(missing_program(p));
        for (const auto& p : required_programs()) EA_REQUIRE(missing_program(p));
        bed_ = std::make_unique<Testbed>();
        container_ = bed_->run_container("shop", "web-7f9c", "app");
        db_ = dir_.file("sessions.db");
    }
    void TearDown() override {
        recorder_.reset();  // before the containers go
        bed_.reset();
    }
    /// The pod UID the testbed gave the container (its /var/log/pods directory: ns_pod_uid), for
    /// the API server's Pod of the same pod.
    std::string pod_uid() const {
        const std::string prefix = "shop_web-7f9c_";
        for (const auto& e : std::filesystem::directory_iterator(bed_->pods_log_dir())) {
            std::string name = e.path().filename().string();
            if (name.rfind(prefix, 0) == 0) return name.substr(prefix.size());
        }
        return "";
    }

    TempDir dir_;
    std::unique_ptr<Testbed> bed_;
    std::unique_ptr<Recorder> recorder_;
    std::string container_;
    std::string db_;
};

}  // namespace execaudit::testing
