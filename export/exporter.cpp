#include "export/exporter.h"

#include "common/log.h"
#include "common/time_format.h"
#include "export/export_record.h"
#include "storage/export_cursor.h"
#include "storage/export_outbox.h"

#include <vector>

namespace execaudit::exporting {
namespace {
using Clock = std::chrono::steady_clock;

/// The node's SQLite, through its own connection.
class SqliteSource final : public ExportSource {
public:
    explicit SqliteSource(const std::string& path)
        : db_(storage::Database::open(path, storage::Database::Mode::read_write)), outbox_(db_), reader_(db_) {}
    storage::OutboxReader& outbox() override { return outbox_; }
    RecordReader& records() override { return reader_; }
    int64_t load_cursor(const std::string& name) override { return storage::ExportCursor(db_, name).load(); }
    void save_cursor(const std::string& name, int64_t position, int64_t now_ns) override {
        storage::ExportCursor(db_, name).save(position, now_ns);
    }

private:
    storage::Database db_;
    storage::ExportOutbox outbox_;
    RecordReader reader_;
};
}  // namespace

Exporter::Exporter(Options options, std::unique_ptr<exporting::Destination> destination)
    : options_(std::move(options)),
      destination_(std::move(destination)),
      name_(destination_->name()),
      source_(std::make_unique<SqliteSource>(options_.db_path)) {}

Exporter::Exporter(Options options, std::unique_ptr<exporting::Destination> destination, std::unique_ptr<ExportSource> source)
    : options_(std::move(options)), destination_(std::move(destination)), name_(destination_->name()), source_(std::move(source)) {}

Exporter::~Exporter() { stop(std::chrono::milliseconds(0)); }

void Exporter::start() {
    thread_ = std::thread([this] {
        try {
            run();
        } catch (const std::exception& e) {
            // Never takes the recorder down: recording goes on, the backlog waits in SQLite.
            log::error("export to {} stopped: {}; records wait in the database for the next start", name_, e.what());
            finished_ = true;
        }
    });
}

void Exporter::stop(std::chrono::milliseconds drain) {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        drain_deadline_ = Clock::now() + drain;
        wake_.notify_all();
    }
    thread_.join();
}

Exporter::Stats Exporter::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

void Exporter::sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex_);
    if (stopping_) {
        lock.unlock();
        std::this_thread::sleep_for(std::min(d, std::chrono::milliseconds(20)));
        return;
    }
    wake_.wait_for(lock, d, [&] { return stopping_; });
}

void Exporter::save_cursor(bool force) {
    int64_t confirmed = destination_->confirmed();
    auto now = Clock::now();
    if (confirmed == saved_ || (!force && now - last_save_ < options_.cursor_save_every)) return;
    try {
        source_->save_cursor(name_, confirmed, wall_clock_ns());
        saved_ = confirmed;
        last_save_ = now;
    } catch (const std::exception& e) {
        log::warn("export to {}: cannot save the cursor ({}); will retry", name_, e.what());
    }
}

void Exporter::run() {
    storage::OutboxReader& outbox = source_->outbox();
    exporting::RecordReader& reader = source_->records();
    saved_ = source_->load_cursor(name_);
    destination_->reset_to(saved_);
    int64_t sent_upto = saved_;
    {
        std::lock_guard lock(mutex_);
        stats_.backlog = outbox.count_after(saved_);
    }
    log::info("export to {}: starting after record {} ({} records waiting)", name_, saved_, stats_.backlog);

    bool connected = false;
    auto backoff = options_.backoff_min;
    int64_t confirmed_seen = saved_;
    std::optional<Clock::time_point> down_since;
    auto next_backlog_log = Clock::now() + options_.backlog_log_every;
    std::optional<int64_t> drain_target;

    auto fail = [&](const std::string& error) {
        destination_->close();
        sent_upto = destination_->confirmed();
        if (connected || !down_since)
            log::warn("export to {}: {}; retrying in {} (records wait in the database)", name_, error,
                      format_duration(std::chrono::nanoseconds(backoff).count()));
        else
            log::debug("export to {}: {}", name_, error);
        connected = false;
        if (!down_since) down_since = Clock::now();
        std::lock_guard lock(mutex_);
        ++stats_.failures;
        stats_.connected = false;
    };

    for (;;) {
        bool stopping;
        Clock::time_point deadline;
        {
            std::lock_guard lock(mutex_);
            stopping = stopping_;
            deadline = drain_deadline_;
        }
        if (stopping) {
            if (!drain_target) drain_target = outbox.last_position();
            if (!connected || Clock::now() >= deadline) break;
        }
        try {
            if (!connected) {
                auto opened = destination_->open();
                if (!opened) {
                    fail(opened.error());
                    if (Clock::now() >= next_backlog_log) {
                        next_backlog_log = Clock::now() + options_.backlog_log_every;
                        int64_t backlog = outbox.count_after(destination_->confirmed());
                        {
                            std::lock_guard lock(mutex_);
                            stats_.backlog = backlog;
                        }
                        log::warn("export to {}: unreachable for {} ({}); {} records waiting", name_,
                                  format_duration(std::chrono::nanoseconds(Clock::now() - *down_since).count()),
                                  opened.error(), backlog);
                    }
                    sleep_for(backoff);
                    backoff = std::min(backoff * 2, options_.backoff_max);
                    continue;
                }
                connected = true;
                sent_upto = destination_->confirmed();
                if (down_since) {
                    log::info("export to {}: connected again after {}; {} records to send", name_,
                              format_duration(std::chrono::nanoseconds(Clock::now() - *down_since).count()),
                              outbox.count_after(sent_upto));
                    down_since.reset();
                }
                std::lock_guard lock(mutex_);
                stats_.connected = true;
            }

            bool sent = false;
            if (!destination_->window_full()) {
                auto entries = outbox.after(sent_upto, options_.batch_records);
                if (!entries.empty()) {
                    reader.new_batch();
                    std::vector<v1::ExportRecord> records;
                    records.reserve(entries.size());
                    for (const auto& e : entries)
                        if (auto r = reader.read(e)) records.push_back(std::move(*r));
                    if (auto s = destination_->send(records, entries.back().position); !s) {
                        fail(s.error());
                        sleep_for(backoff);
                        backoff = std::min(backoff * 2, options_.backoff_max);
                        continue;
                    }
                    sent_upto = entries.back().position;
                    sent = true;
                    std::lock_guard lock(mutex_);
                    stats_.sent += records.size();
                }
            }
            if (auto p = destination_->poll(); !p) {
                fail(p.error());
                sleep_for(backoff);
                backoff = std::min(backoff * 2, options_.backoff_max);
                continue;
            }
            if (destination_->confirmed() > confirmed_seen) {
                confirmed_seen = destination_->confirmed();
                backoff = options_.backoff_min;  // a peer that accepts and then drops us does not reset it
            }
            save_cursor(false);

            if (drain_target && sent_upto >= *drain_target) {
                if (auto f = destination_->finish(); !f)
                    log::warn("export to {}: could not confirm the last records ({}); they are sent again at the next start",
                              name_, f.error());
                connected = false;
                break;
            }
            if (Clock::now() >= next_backlog_log) {
                next_backlog_log = Clock::now() + options_.backlog_log_every;
                int64_t backlog = outbox.count_after(destination_->confirmed());
                {
                    std::lock_guard lock(mutex_);
                    stats_.backlog = backlog;
                }
                if (backlog > static_cast<int64_t>(options_.batch_records))
                    log::info("export to {}: {} records behind", name_, backlog);
            }
            if (!sent) sleep_for(options_.idle_poll);
        } catch (const std::exception& e) {
            // SQLite busy or a damaged row: nothing is skipped; the same batch is tried again.
            log::warn("export to {}: {}; retrying", name_, e.what());
            sleep_for(options_.backoff_min);
        }
    }
    save_cursor(true);
    int64_t backlog = 0;
    try {
        backlog = outbox.count_after(destination_->confirmed());
    } catch (const std::exception&) {
    }
    std::lock_guard lock(mutex_);
    stats_.backlog = backlog;
    stats_.connected = false;
    log::info("export to {}: stopped at record {}; {} records wait for the next start", name_, destination_->confirmed(),
              backlog);
}

}  // namespace execaudit::exporting
