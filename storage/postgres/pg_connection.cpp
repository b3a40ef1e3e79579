#include "storage/postgres/pg_connection.h"

#include <fmt/format.h>

#include <charconv>

namespace execaudit::storage::pg {
namespace {

struct ConninfoFree {
    void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

// The URI's options as libpq parses them (nullptr when it cannot).
std::unique_ptr<PQconninfoOption, ConninfoFree> parse(const std::string& uri) {
    char* err = nullptr;
    PQconninfoOption* o = PQconninfoParse(uri.c_str(), &err);
    if (err) PQfreemem(err);  // may quote the URI: never shown
    return std::unique_ptr<PQconninfoOption, ConninfoFree>(o);
}

std::string option(const PQconninfoOption* opts, std::string_view name) {
    for (const auto* o = opts; o && o->keyword; ++o)
        if (name == o->keyword && o->val) return o->val;
    return {};
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

bool is_postgres_uri(std::string_view db) { return db.starts_with("postgresql://") || db.starts_with("postgres://"); }

std::string redact_uri(std::string_view uri) {
    std::string out(uri);
    // userinfo: scheme://user:password@host
    if (auto scheme = out.find("://"); scheme != std::string::npos) {
        size_t start = scheme + 3;
        size_t end = out.find_first_of("/?", start);
        size_t at = out.rfind('@', end == std::string::npos ? out.size() : end);
        if (at != std::string::npos && at >= start) {
            size_t colon = out.find(':', start);
            if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
        }
    }
    // ?password=... or &password=...
    for (size_t p = 0; (p = out.find("password=", p)) != std::string::npos;) {
        if (p > 0 && out[p - 1] != '?' && out[p - 1] != '&') {
            p += 9;
            continue;
        }
        size_t v = p + 9;
        size_t e = out.find('&', v);
        out.replace(v, (e == std::string::npos ? out.size() : e) - v, "***");
        p = v + 3;
    }
    return out;
}

int64_t Result::affected() const {
    const char* n = PQcmdTuples(res_.get());
    return n && *n ? std::stoll(n) : 0;
}

std::string Result::text(int row, int col) const {
    return std::string(PQgetvalue(res_.get(), row, col), static_cast<size_t>(PQgetlength(res_.get(), row, col)));
}

std::optional<std::string> Result::optional_text(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return text(row, col);
}

int64_t Result::int64(int row, int col) const {
    if (is_null(row, col)) return 0;
    const char* v = PQgetvalue(res_.get(), row, col);
    int64_t out = 0;
    std::from_chars(v, v + PQgetlength(res_.get(), row, col), out);
    return out;
}

std::optional<int64_t> Result::optional_int64(int row, int col) const {
    if (is_null(row, col)) return std::nullopt;
    return int64(row, col);
}

bool Result::boolean(int row, int col) const {
    if (is_null(row, col)) return false;
    return PQgetvalue(res_.get(), row, col)[0] == 't';
}

std::string Result::bytes(int row, int col) const {
    // bytea in text format: \x followed by hex digits (bytea_output = hex, forced at connect)
    std::string_view v(PQgetvalue(res_.get(), row, col), static_cast<size_t>(PQgetlength(res_.get(), row, col)));
    if (!v.starts_with("\\x")) return std::string(v);
    v.remove_prefix(2);
    std::string out;
    out.reserve(v.size() / 2);
    for (size_t i = 0; i + 1 < v.size(); i += 2) {
        int hi = hex_value(v[i]), lo = hex_value(v[i + 1]);
        if (hi < 0 || lo < 0) break;
        out += static_cast<char>(hi << 4 | lo);
    }
    return out;
}

Connection Connection::open(const std::string& uri) {
    auto opts = parse(uri);
    if (!opts) throw UsageError(fmt::format("--db {}: not a valid PostgreSQL connection URI", redact_uri(uri)));
    std::string host = option(opts.get(), "host");
    std::string port = option(opts.get(), "port");
    std::string dbname = option(opts.get(), "dbname");
    std::string label = fmt::format("postgresql://{}{}{}/{}", host.empty() ? "localhost" : host, port.empty() ? "" : ":",
                                    port, dbname);
    std::string password = option(opts.get(), "password");
    // later keywords override earlier ones: the URI's own connect_timeout wins over ours
    const char* keywords[] = {"connect_timeout", "application_name", "options", "dbname", nullptr};
    const char* values[] = {"5", "execaudit", "-c bytea_output=hex -c TimeZone=UTC", uri.c_str(), nullptr};
    PGconn* c = PQconnectdbParams(keywords, values, 1);
    Connection conn(c, label, password);
    if (!c) throw PgError(fmt::format("{}: out of memory", label), true);
    if (PQstatus(c) != CONNECTION_OK) {
        std::string why = conn.scrub(PQerrorMessage(c));
        while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
        throw PgError(fmt::format("cannot connect to {}: {}", label, why), true);
    }
    PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);  // NOTICEs (IF NOT EXISTS ...) are not ours to print
    return conn;
}

std::string Connection::scrub(std::string message) const {
    if (password_.empty()) return message;
    for (size_t p; (p = message.find(password_)) != std::string::npos;) message.replace(p, password_.size(), "***");
    return message;
}

void Connection::fail(const char* what, PGresult* res) {
    std::string sqlstate;
    std::string message;
    if (res) {
        if (const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE)) sqlstate = s;
        message = PQresultErrorMessage(res);
        PQclear(res);
    }
    if (message.empty()) message = PQerrorMessage(conn_.get());
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    // class 08: connection exceptions; 57P01..03: the server is shutting down or starting
    bool lost = PQstatus(conn_.get()) != CONNECTION_OK || sqlstate.starts_with("08") || sqlstate.starts_with("57P");
    throw PgError(fmt::format("{} ({}): {}", what, label_, scrub(message)), lost, sqlstate);
}

Result Connection::exec(std::string_view sql, const std::vector<Param>& params) {
    std::vector<const char*> values(params.size());
    std::vector<int> lengths(params.size()), formats(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
        values[i] = params[i].value ? params[i].value->data() : nullptr;
        lengths[i] = params[i].value ? static_cast<int>(params[i].value->size()) : 0;
        formats[i] = params[i].binary ? 1 : 0;
    }
    std::string statement(sql);
    PGresult* r = PQexecParams(conn_.get(), statement.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                               lengths.data(), formats.data(), 0);
    auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("PostgreSQL statement failed", r);
    return Result(r);
}

void Connection::exec_script(const std::string& sql) {
    PGresult* r = PQexec(conn_.get(), sql.c_str());
    auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) fail("PostgreSQL script failed", r);
    PQclear(r);
}

Transaction::~Transaction() {
    if (done_ || !c_.ok()) return;
    try {
        c_.exec("ROLLBACK");
    } catch (...) {
    }
}

}  // namespace execaudit::storage::pg
