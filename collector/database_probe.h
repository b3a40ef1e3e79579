#pragma once
// Whether the cluster store answers, asked every few seconds on a connection of its own: a
// replica's readiness (/readyz) must follow PostgreSQL even while no node uploads and no webhook
// arrives, and come back by itself when the database does.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace execaudit::collector {

class DatabaseProbe {
public:
    /// `on_result` is called on the probe's thread after every probe: "" when PostgreSQL answered,
    /// else why not (credentials scrubbed). A change is also logged, once.
    DatabaseProbe(std::string db_uri, std::chrono::milliseconds interval, std::function<void(const std::string&)> on_result);
    ~DatabaseProbe();
    DatabaseProbe(const DatabaseProbe&) = delete;
    DatabaseProbe& operator=(const DatabaseProbe&) = delete;

    void stop();

private:
    void run();

    std::string db_uri_;
    std::chrono::milliseconds interval_;
    std::function<void(const std::string&)> on_result_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;  // guarded by mutex_
    std::thread thread_;
};

}  // namespace execaudit::collector
