#pragma once
// RAII over libpq: one connection, parameterized statements only (bytea sent binary), results
// read as text. Errors never carry the connection URI, and any password in it is scrubbed from
// libpq's messages: a `--db postgresql://user:secret@host/db` never reaches a log or a terminal.

#include "common/errors.h"

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace execaudit::storage::pg {

/// `--db` names the cluster's store: a libpq connection URI.
bool is_postgres_uri(std::string_view db);
/// The URI with its password (and any password= parameter) replaced by "***": for messages.
std::string redact_uri(std::string_view uri);

/// A failed statement or a lost connection.
class PgError : public RuntimeError {
public:
    PgError(std::string what, bool connection_lost, std::string sqlstate = {})
        : RuntimeError(std::move(what)), connection_lost_(connection_lost), sqlstate_(std::move(sqlstate)) {}
    /// The server is unreachable (down, restarting, network): worth retrying later.
    bool connection_lost() const { return connection_lost_; }
    const std::string& sqlstate() const { return sqlstate_; }

private:
    bool connection_lost_;
    std::string sqlstate_;
};

/// A bound parameter: text, bytes (bytea, sent in binary), or NULL.
struct Param {
    std::optional<std::string> value;
    bool binary = false;
};
inline Param text(std::string_view v) { return {std::string(v), false}; }
inline Param text(const std::string& v) { return {v, false}; }
inline Param text(const char* v) { return {std::string(v), false}; }
inline Param bytes(std::string_view v) { return {std::string(v), true}; }
inline Param num(int64_t v) { return {std::to_string(v), false}; }
inline Param boolean(bool v) { return {v ? "t" : "f", false}; }
inline Param null() { return {}; }
inline Param text(const std::optional<std::string>& v) { return v ? text(*v) : null(); }
template <typename T>
Param num(const std::optional<T>& v) {
    return v ? num(static_cast<int64_t>(*v)) : null();
}

/// A statement's rows; columns by index, as text (bytea decoded to its bytes).
class Result {
public:
    int rows() const { return PQntuples(res_.get()); }
    int64_t affected() const;
    bool is_null(int row, int col) const { return PQgetisnull(res_.get(), row, col) != 0; }
    std::string text(int row, int col) const;
    std::optional<std::string> optional_text(int row, int col) const;
    int64_t int64(int row, int col) const;
    std::optional<int64_t> optional_int64(int row, int col) const;
    bool boolean(int row, int col) const;
    std::string bytes(int row, int col) const;  ///< a bytea column

private:
    friend class Connection;
    struct Clear {
        void operator()(PGresult* r) const { PQclear(r); }
    };
    explicit Result(PGresult* r) : res_(r) {}
    std::unique_ptr<PGresult, Clear> res_;
};

/// One row's columns in turn, from `first` (for readers shared with SQLite's rows).
class RowColumns {
public:
    RowColumns(const Result& r, int row, int first = 0) : r_(r), row_(row), at_(first) {}
    std::string text() { return r_.text(row_, at_++); }
    std::optional<std::string> optional_text() { return r_.optional_text(row_, at_++); }
    int64_t int64() { return r_.int64(row_, at_++); }
    std::optional<int64_t> optional_int64() { return r_.optional_int64(row_, at_++); }
    std::string bytes() { return r_.bytes(row_, at_++); }

private:
    const Result& r_;
    int row_, at_;
};

class Connection {
public:
    /// Connects (5 s timeout unless the URI says otherwise). Throws PgError (connection_lost)
    /// when the server cannot be reached; the message names host and port, never the password.
    static Connection open(const std::string& uri);

    Result exec(std::string_view sql, const std::vector<Param>& params = {});
    /// Several statements in one string (migrations).
    void exec_script(const std::string& sql);
    /// Whether the connection still stands (libpq's view after the last statement).
    bool ok() const { return PQstatus(conn_.get()) == CONNECTION_OK; }
    /// Host and database, for messages (no user, no password).
    const std::string& label() const { return label_; }
    PGconn* handle() const { return conn_.get(); }

private:
    struct Finish {
        void operator()(PGconn* c) const { PQfinish(c); }
    };
    Connection(PGconn* c, std::string label, std::string password)
        : conn_(c), label_(std::move(label)), password_(std::move(password)) {}
    [[noreturn]] void fail(const char* what, PGresult* res);
    std::string scrub(std::string message) const;

    std::unique_ptr<PGconn, Finish> conn_;
    std::string label_;
    std::string password_;  // only to remove it from libpq's messages
};

/// BEGIN ... COMMIT; rolled back when destroyed without commit() (or when the connection died).
class Transaction {
public:
    explicit Transaction(Connection& c) : c_(c) { c_.exec("BEGIN"); }
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() {
        c_.exec("COMMIT");
        done_ = true;
    }

private:
    Connection& c_;
    bool done_ = false;
};

}  // namespace execaudit::storage::pg
