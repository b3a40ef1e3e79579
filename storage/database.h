#pragma once
// RAII over SQLite: one connection, prepared statements with bound parameters only.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace execaudit::storage {

/// A prepared statement. Bind indexes start at 1, columns at 0.
class Statement {
public:
    Statement(sqlite3* db, std::string_view sql);
    Statement(Statement&&) noexcept = default;
    Statement& operator=(Statement&&) noexcept = default;

    Statement& bind(int index, int64_t value);
    Statement& bind(int index, std::string_view text);
    Statement& bind_blob(int index, std::string_view bytes);
    Statement& bind_null(int index);
    template <typename T>
    Statement& bind(int index, const std::optional<T>& value) {
        return value ? bind(index, *value) : bind_null(index);
    }

    /// Steps once: true when a row is ready, false when done. Throws RuntimeError on failure.
    bool step();
    /// Steps to completion, then resets for reuse.
    void run();
    void reset();

    int64_t column_int(int col) const;
    std::optional<int64_t> column_optional_int(int col) const;
    std::string column_text(int col) const;
    std::optional<std::string> column_optional_text(int col) const;
    std::string column_blob(int col) const;
    bool column_is_null(int col) const;

private:
    struct Finalizer {
        void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
    };
    sqlite3* db_;
    std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
};

/// The current row's columns in turn, from `first` (for readers shared with PostgreSQL's rows).
class RowColumns {
public:
    explicit RowColumns(const Statement& st, int first = 0) : st_(st), at_(first) {}
    std::string text() { return st_.column_text(at_++); }
    std::optional<std::string> optional_text() { return st_.column_optional_text(at_++); }
    int64_t int64() { return st_.column_int(at_++); }
    std::optional<int64_t> optional_int64() { return st_.column_optional_int(at_++); }
    std::string bytes() { return st_.column_blob(at_++); }

private:
    const Statement& st_;
    int at_;
};

/// One SQLite connection with execaudit's pragmas and schema.
class Database {
public:
    enum class Mode {
        read_only,   ///< readers (CLI): the file must exist; migrated only if writable
        read_write,  ///< the recorder: created (0600, parent dir 0700) and migrated
    };

    /// Opens and migrates. Throws UsageError when the file is missing, not a database, or from a
    /// newer execaudit; RuntimeError on other failures.
    static Database open(const std::string& path, Mode mode);

    Database(Database&&) noexcept = default;
    Database& operator=(Database&&) noexcept = default;

    Statement prepare(std::string_view sql) { return Statement(db_.get(), sql); }
    void exec(const std::string& sql);
    sqlite3* handle() const { return db_.get(); }
    const std::string& path() const { return path_; }

private:
    struct Closer {
        void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
    };
    Database(std::unique_ptr<sqlite3, Closer> db, std::string path) : db_(std::move(db)), path_(std::move(path)) {}

    std::unique_ptr<sqlite3, Closer> db_;
    std::string path_;
};

/// RAII transaction: commits on commit(), rolls back when destroyed without it.
class Transaction {
public:
    explicit Transaction(Database& db);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit();

private:
    Database& db_;
    bool done_ = false;
};

}  // namespace execaudit::storage
