#pragma once
// The database schema and its forward migrations. The version lives in PRAGMA user_version.

namespace execaudit::storage {

class Database;

/// The schema version this build writes.
int current_schema_version();

/// Applies every migration newer than the file's user_version, in one transaction.
/// Throws UsageError when the file is newer than this build.
void migrate(Database& db);

/// The file's schema version.
int schema_version(Database& db);

}  // namespace execaudit::storage
