#include "storage/read_store.h"

#include "storage/database.h"
#include "storage/export_outbox.h"
#include "storage/postgres/pg_connection.h"
#include "storage/postgres/pg_ledger.h"
#include "storage/postgres/pg_schema.h"
#include "storage/postgres/pg_store.h"
#include "storage/request_store.h"
#include "storage/session_store.h"

namespace execaudit::storage {
namespace {

class SqliteReadStore final : public ReadStore {
public:
    explicit SqliteReadStore(Database db) : db_(std::move(db)), sessions_(db_), requests_(db_), outbox_(db_), ledger_(db_) {}
    SessionReader& sessions() override { return sessions_; }
    RequestReader& requests() override { return requests_; }
    OutboxReader& outbox() override { return outbox_; }
    LedgerReader* ledger() override { return &ledger_; }
    std::string label() const override { return db_.path(); }

private:
    Database db_;
    SessionStore sessions_;
    RequestStore requests_;
    ExportOutbox outbox_;
    SqliteLedger ledger_;
};

class PgReadStore final : public ReadStore {
public:
    explicit PgReadStore(pg::Connection c) : c_(std::move(c)), sessions_(c_), requests_(c_), outbox_(c_), ledger_(c_) {}
    SessionReader& sessions() override { return sessions_; }
    RequestReader& requests() override { return requests_; }
    OutboxReader& outbox() override { return outbox_; }
    LedgerReader* ledger() override { return &ledger_; }
    bool ledger_signed_by_recorder() const override { return false; }
    std::string label() const override { return c_.label(); }

private:
    pg::Connection c_;
    pg::PgSessionStore sessions_;
    pg::PgRequestStore requests_;
    pg::PgOutbox outbox_;
    pg::PgLedger ledger_;
};

}  // namespace

bool is_cluster_store(const std::string& db) { return pg::is_postgres_uri(db); }

std::unique_ptr<ReadStore> open_read_store(const std::string& db) {
    if (pg::is_postgres_uri(db)) {
        auto c = pg::Connection::open(db);
        // one snapshot per command would be nicer for export; reads are consistent per statement
        c.exec("SET default_transaction_read_only = on");
        pg::check_schema(c);
        return std::make_unique<PgReadStore>(std::move(c));
    }
    return std::make_unique<SqliteReadStore>(Database::open(db, Database::Mode::read_only));
}

}  // namespace execaudit::storage
