#pragma once
// Where the leading collector's correlation writes (attribution/attribution.h's WriteSink): audit
// stages, requests and verdicts into PostgreSQL, on a thread of its own, in transactions of
// whatever is queued. A barrier's callback runs once everything before it is committed. While the
// database is away, everything stays queued (bounded) and is written once it is back.

#include "storage/store_writer.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace execaudit::collector {

class PgSink final : public storage::WriteSink {
public:
    explicit PgSink(std::string uri);
    ~PgSink() override;
    PgSink(const PgSink&) = delete;
    PgSink& operator=(const PgSink&) = delete;

    void submit(storage::WriteOp op) override;
    /// Writes what is queued (for at most `patience`), then stops.
    void stop(std::chrono::milliseconds patience);
    bool failing() const;
    size_t queued() const;

private:
    void run();
    std::string uri_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<storage::WriteOp> queue_;  // guarded by mutex_
    bool stopping_ = false;               // guarded by mutex_
    bool failing_ = false;                // guarded by mutex_
    std::chrono::steady_clock::time_point deadline_;
    std::thread thread_;
};

}  // namespace execaudit::collector
