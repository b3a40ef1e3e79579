#pragma once
// The SIEM export at the collector reads the cluster store (export/exporter.h's ExportSource):
// the outbox in position order, records through the read interface, each destination's cursor in
// export_cursor. Positions are given to committed outbox rows only, by the leading replica, just
// before it reads them (and under a lock of their own, for its several destinations), so
// `position > cursor` never skips a row another replica committed late (the Decisions: sequence
// order is not commit order). One connection; a lost one ends the exporter, which the leader
// starts again.

#include "export/export_record.h"
#include "export/exporter.h"
#include "storage/postgres/pg_store.h"

#include <string>

namespace execaudit::collector {

class PgExportSource final : public exporting::ExportSource {
public:
    explicit PgExportSource(const std::string& uri);
    storage::OutboxReader& outbox() override { return positioned_; }
    exporting::RecordReader& records() override { return reader_; }
    int64_t load_cursor(const std::string& name) override;
    void save_cursor(const std::string& name, int64_t position, int64_t now_ns) override;

private:
    class Positioned final : public storage::OutboxReader {
    public:
        explicit Positioned(storage::pg::Connection& c) : c_(c), outbox_(c) {}
        std::vector<storage::OutboxEntry> after(int64_t position, size_t limit,
                                                const std::optional<std::string>& session_id = std::nullopt) override;
        int64_t count_after(int64_t position) override;
        int64_t last_position() override;

    private:
        void assign();
        storage::pg::Connection& c_;
        storage::pg::PgOutbox outbox_;
    };
    storage::pg::Connection conn_;
    Positioned positioned_;
    storage::pg::PgSessionStore sessions_;
    storage::pg::PgRequestStore requests_;
    exporting::RecordReader reader_;
};

}  // namespace execaudit::collector
