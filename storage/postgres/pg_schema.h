#pragma once
// The cluster store's schema in PostgreSQL, with forward migrations (storage/schema.cpp is the
// node's SQLite). Standard PostgreSQL only (plus pg_trgm, a trusted contrib extension that
// RDS, Cloud SQL and CloudNativePG all ship), so managed and HA servers serve.

#include "storage/postgres/pg_connection.h"

namespace execaudit::storage::pg {

int current_schema_version();
/// The database's version; 0 when execaudit never migrated it.
int schema_version(Connection& c);
/// Brings the schema to the current version (the collector's role; one replica at a time:
/// serialized by an advisory lock). Throws UsageError for a schema from a newer execaudit.
void migrate(Connection& c);
/// For readers (read-only role): throws UsageError unless the schema is there and known.
void check_schema(Connection& c);

}  // namespace execaudit::storage::pg
