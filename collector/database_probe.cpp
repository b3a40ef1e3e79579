#include "collector/database_probe.h"

#include "common/log.h"
#include "storage/postgres/pg_connection.h"

#include <optional>

namespace execaudit::collector {
namespace pg = storage::pg;

DatabaseProbe::DatabaseProbe(std::string db_uri, std::chrono::milliseconds interval,
                             std::function<void(const std::string&)> on_result)
    : db_uri_(std::move(db_uri)), interval_(interval), on_result_(std::move(on_result)), thread_([this] { run(); }) {}

DatabaseProbe::~DatabaseProbe() { stop(); }

void DatabaseProbe::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        wake_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
}

void DatabaseProbe::run() {
    std::optional<pg::Connection> conn;
    bool answered = true;  // as the collector started: it had just migrated the schema
    for (;;) {
        std::string error;
        try {
            if (!conn || !conn->ok()) conn.emplace(pg::Connection::open(db_uri_));
            conn->exec("SELECT 1");
        } catch (const std::exception& e) {
            conn.reset();
            error = e.what();  // PgError messages carry the URI's label, never its password
            if (error.empty()) error = "PostgreSQL did not answer";
        }
        if (error.empty() != answered) {
            answered = error.empty();
            if (answered) log::info("the cluster store answers again: ready");
            else log::warn("the cluster store does not answer: {}; not ready until it does", error);
        }
        if (on_result_) on_result_(error);
        std::unique_lock lock(mutex_);
        if (wake_.wait_for(lock, interval_, [&] { return stopping_; })) return;
    }
}

}  // namespace execaudit::collector
