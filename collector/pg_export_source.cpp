#include "collector/pg_export_source.h"

#include "storage/postgres/pg_writer.h"

namespace execaudit::collector {
namespace pg = storage::pg;

namespace {
/// Serializes position assignment between the leader's destinations ("execposn").
constexpr int64_t kPositionLock = 0x65786563'706f736e;
}  // namespace

PgExportSource::PgExportSource(const std::string& uri)
    : conn_(pg::Connection::open(uri)), positioned_(conn_), sessions_(conn_), requests_(conn_), reader_(sessions_, requests_) {}

void PgExportSource::Positioned::assign() {
    pg::Transaction tx(c_);
    c_.exec("SELECT pg_advisory_xact_lock($1)", {pg::num(kPositionLock)});
    pg::assign_export_positions(c_);
    tx.commit();
}

std::vector<storage::OutboxEntry> PgExportSource::Positioned::after(int64_t position, size_t limit,
                                                                    const std::optional<std::string>& session_id) {
    assign();
    return outbox_.after(position, limit, session_id);
}

int64_t PgExportSource::Positioned::count_after(int64_t position) {
    assign();
    return outbox_.count_after(position);
}

int64_t PgExportSource::Positioned::last_position() {
    assign();
    return outbox_.last_position();
}

int64_t PgExportSource::load_cursor(const std::string& name) {
    auto r = conn_.exec("SELECT position FROM export_cursor WHERE name = $1", {pg::text(name)});
    return r.rows() ? r.int64(0, 0) : 0;
}

void PgExportSource::save_cursor(const std::string& name, int64_t position, int64_t now_ns) {
    conn_.exec("INSERT INTO export_cursor (name, position, updated_ns) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE "
               "SET position = greatest(export_cursor.position, excluded.position), updated_ns = excluded.updated_ns",
               {pg::text(name), pg::num(position), pg::num(now_ns)});
}

}  // namespace execaudit::collector
