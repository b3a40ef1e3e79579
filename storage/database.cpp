#include "storage/database.h"

#include "common/errors.h"
#include "common/file_mode.h"
#include "storage/schema.h"

#include <fmt/format.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace execaudit::storage {
namespace {

[[noreturn]] void fail(sqlite3* db, std::string_view what) {
    throw RuntimeError(fmt::format("sqlite: {}: {}", what, db ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &raw,
                           nullptr) != SQLITE_OK)
        fail(db, fmt::format("prepare '{}'", sql.substr(0, 60)));
    stmt_.reset(raw);
}

Statement& Statement::bind(int index, int64_t value) {
    if (sqlite3_bind_int64(stmt_.get(), index, value) != SQLITE_OK) fail(db_, "bind");
    return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
    if (sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8) !=
        SQLITE_OK)
        fail(db_, "bind");
    return *this;
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
    if (sqlite3_bind_blob64(stmt_.get(), index, bytes.data(), bytes.size(), SQLITE_TRANSIENT) != SQLITE_OK)
        fail(db_, "bind");
    return *this;
}

Statement& Statement::bind_null(int index) {
    if (sqlite3_bind_null(stmt_.get(), index) != SQLITE_OK) fail(db_, "bind");
    return *this;
}

bool Statement::step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    std::string msg = sqlite3_errmsg(db_);
    sqlite3_reset(stmt_.get());
    throw RuntimeError(fmt::format("sqlite: {}", msg));
}

void Statement::run() {
    while (step()) {
    }
    reset();
}

void Statement::reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
}

int64_t Statement::column_int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }

std::optional<int64_t> Statement::column_optional_int(int col) const {
    if (column_is_null(col)) return std::nullopt;
    return column_int(col);
}

std::string Statement::column_text(int col) const {
    const auto* p = sqlite3_column_text(stmt_.get(), col);
    int n = sqlite3_column_bytes(stmt_.get(), col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

std::optional<std::string> Statement::column_optional_text(int col) const {
    if (column_is_null(col)) return std::nullopt;
    return column_text(col);
}

std::string Statement::column_blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_.get(), col);
    int n = sqlite3_column_bytes(stmt_.get(), col);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}

bool Statement::column_is_null(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }

Database Database::open(const std::string& path, Mode mode) {
    namespace fs = std::filesystem;
    int flags = SQLITE_OPEN_NOMUTEX;
    if (mode == Mode::read_write) {
        fs::path parent = fs::path(path).parent_path();
        std::error_code ec;
        if (!parent.empty() && !fs::exists(parent, ec)) {
            fs::create_directories(parent, ec);
            if (ec) throw UsageError(fmt::format("cannot create {}: {}", parent.string(), ec.message()));
            ::chmod(parent.c_str(), 0700);  // session contents are sensitive
        }
        flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
        // Creates the file with 0600 before SQLite does, so nobody else can ever read it. Only
        // when it is new: close() drops every POSIX lock this process holds on the file, and the
        // recorder opens its exporters' connections while the writer's is live. Without its
        // locks, the next reader to exit takes itself for the last one and deletes the WAL.
        // SQLite gives the -wal and -shm files the database file's mode.
        UniqueFd created(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFileMode));
        if (created) ::fchmod(created.get(), kPrivateFileMode);  // exactly, whatever the umask
        else if (errno != EEXIST)
            throw UsageError(fmt::format("cannot open database {}: {}", path, std::strerror(errno)));
    } else {
        std::error_code ec;
        if (!fs::exists(path, ec))
            throw UsageError(fmt::format(
                "no database at {} (has `execaudit record` run on this node? pass --db or set EXECAUDIT_DB)", path));
        flags |= (::access(path.c_str(), W_OK) == 0) ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    }

    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    std::unique_ptr<sqlite3, Closer> handle(raw);
    if (rc != SQLITE_OK)
        throw UsageError(fmt::format("cannot open database {}: {}", path, raw ? sqlite3_errmsg(raw) : "out of memory"));
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, 5000);

    Database db(std::move(handle), path);
    try {
        // Reading any page tells us whether this is a database at all.
        db.exec("SELECT count(*) FROM sqlite_master");
    } catch (const RuntimeError& e) {
        throw UsageError(fmt::format("{} is not an execaudit database ({})", path, e.what()));
    }
    int version = schema_version(db);
    if (version == 0) {
        // Never migrate a database execaudit did not create (a mistyped --db).
        auto tables = db.prepare("SELECT count(*) FROM sqlite_master");
        tables.step();
        if (mode == Mode::read_only || tables.column_int(0) != 0)
            throw UsageError(fmt::format("{} is not an execaudit database (no execaudit schema in it)", path));
    }
    if (flags & SQLITE_OPEN_READWRITE) {
        try {
            // A new file returns the pages retention frees to the file system (storage/retention.h);
            // SQLite takes this only before the first table exists.
            if (version == 0) db.exec("PRAGMA auto_vacuum=INCREMENTAL");
            db.exec("PRAGMA journal_mode=WAL");  // needs a writable directory for the -wal file
            db.exec("PRAGMA journal_size_limit=67108864");  // the WAL file shrinks back to 64 MiB after a flood
            db.exec("PRAGMA synchronous=NORMAL");
            db.exec("PRAGMA foreign_keys=ON");
            migrate(db);
        } catch (const RuntimeError& e) {
            throw UsageError(fmt::format("cannot use {} as the database: {}", path, e.what()));
        }
    } else if (schema_version(db) != current_schema_version()) {
        throw UsageError(fmt::format("{} has schema v{}, this execaudit reads v{} and cannot migrate a read-only file",
                                     path, schema_version(db), current_schema_version()));
    }
    return db;
}

void Database::exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : sqlite3_errmsg(db_.get());
        sqlite3_free(err);
        throw RuntimeError(fmt::format("sqlite: {}", msg));
    }
}

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
    if (!done_) {
        try {
            db_.exec("ROLLBACK");
        } catch (...) {
        }
    }
}

void Transaction::commit() {
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace execaudit::storage
