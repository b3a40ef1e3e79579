#pragma once
// Sends every exportable record to one destination, at least once, without ever touching the
// capture path: its own thread, its own database connection (WAL lets it read while the writer
// writes). It reads the outbox in commit order after its cursor, sends batches, and persists the
// position its destination confirms. When the destination is down it retries with backoff and
// holds nothing in memory but one batch: the backlog stays in SQLite and is logged.

#include "export/destination.h"
#include "storage/database.h"
#include "storage/readers.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace execaudit::exporting {

class RecordReader;

/// Where an exporter reads: the node's SQLite (by default), or the cluster's store (the leading
/// collector's, collector/pg_export_source.h). Used on the exporter's thread only.
class ExportSource {
public:
    virtual ~ExportSource() = default;
    virtual storage::OutboxReader& outbox() = 0;
    virtual RecordReader& records() = 0;
    /// Where destination `name` stands (0: it never exported).
    virtual int64_t load_cursor(const std::string& name) = 0;
    /// Persists it (never backwards).
    virtual void save_cursor(const std::string& name, int64_t position, int64_t now_ns) = 0;
};

class Exporter {
public:
    struct Options {
        std::string db_path;
        size_t batch_records = 500;
        std::chrono::milliseconds idle_poll{200};
        std::chrono::milliseconds backoff_min{500};
        std::chrono::milliseconds backoff_max{30'000};
        std::chrono::milliseconds cursor_save_every{500};
        std::chrono::milliseconds backlog_log_every{30'000};
    };
    struct Stats {
        int64_t backlog = 0;    ///< records after the confirmed position
        uint64_t sent = 0;      ///< records handed to the destination (resends included)
        uint64_t failures = 0;
        bool connected = false;
    };

    /// Opens its own connection to the database; throws like Database::open.
    Exporter(Options options, std::unique_ptr<exporting::Destination> destination);
    /// Reads `source` instead (Options::db_path unused).
    Exporter(Options options, std::unique_ptr<exporting::Destination> destination, std::unique_ptr<ExportSource> source);
    ~Exporter();
    Exporter(const Exporter&) = delete;
    Exporter& operator=(const Exporter&) = delete;

    void start();
    /// Sends what is committed now for at most `drain`, confirms it (closing the connection
    /// gracefully), persists the cursor, and stops the thread. Idempotent.
    void stop(std::chrono::milliseconds drain);
    Stats stats() const;
    const std::string& name() const { return name_; }
    /// Its thread ended on an error (its source failed): what is not confirmed waits for a new one.
    bool finished() const { return finished_; }

private:
    void run();
    /// Waits `d`, cut short by stop() (while draining at stop, a short pause only).
    void sleep_for(std::chrono::milliseconds d);
    void save_cursor(bool force);

    Options options_;
    std::unique_ptr<exporting::Destination> destination_;
    std::string name_;
    std::unique_ptr<ExportSource> source_;
    std::atomic<bool> finished_{false};

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point drain_deadline_;
    Stats stats_;
    int64_t saved_ = 0;
    std::chrono::steady_clock::time_point last_save_;
    std::thread thread_;
};

}  // namespace execaudit::exporting
