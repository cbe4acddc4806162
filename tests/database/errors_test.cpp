// The database error tree and the SQLite result-code mapping.

#include "database/errors.hpp"
#include "database/sqlite/sqlite_errors.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <exception>
#include <string>

using namespace atrium::db;

namespace {

// Rethrows make_sqlite_error(code) and returns what was caught, by class.
struct caught {
    std::string klass;
    error_category category{};
    std::string code;
    int native = 0;
    std::string query;
    std::string what;
};

caught classify(int code, std::string query = "SELECT 1") {
    caught c;
    try {
        std::rethrow_exception(make_sqlite_error(code, "boom", std::move(query)));
    } catch (const timeout_error& e) {
        c = {"timeout_error", e.category(), e.code(), e.native_code(), e.query(), e.what()};
    } catch (const operational_error& e) {
        c = {"operational_error", e.category(), e.code(), e.native_code(), e.query(), e.what()};
    } catch (const integrity_error& e) {
        c = {"integrity_error", e.category(), e.code(), e.native_code(), e.query(), e.what()};
    } catch (const programming_error& e) {
        c = {"programming_error", e.category(), e.code(), e.native_code(), e.query(), e.what()};
    } catch (const database_error& e) {
        c = {"database_error", e.category(), e.code(), e.native_code(), e.query(), e.what()};
    }
    return c;
}

}  // namespace

TEST_SUITE("database errors") {

TEST_CASE("errors: to_string names every category") {
    CHECK(to_string(error_category::retryable) == "retryable");
    CHECK(to_string(error_category::in_doubt) == "in_doubt");
    CHECK(to_string(error_category::integrity) == "integrity");
    CHECK(to_string(error_category::programming) == "programming");
    CHECK(to_string(error_category::timeout) == "timeout");
    CHECK(to_string(error_category::unavailable) == "unavailable");
    CHECK(to_string(error_category::other) == "other");
}

TEST_CASE("errors: database_error carries message, category, code, native code and query") {
    const operational_error e("could not serialize", error_category::retryable, "40001", 0,
                              "UPDATE t SET x = 1");
    CHECK(std::string(e.what()) == "could not serialize");
    CHECK(e.category() == error_category::retryable);
    CHECK(e.code() == "40001");
    CHECK(e.sqlstate() == "40001");
    CHECK(e.native_code() == 0);
    CHECK(e.query() == "UPDATE t SET x = 1");
    CHECK(e.is_retryable());

    const in_doubt_error d("connection lost during COMMIT", error_category::in_doubt, "08006");
    CHECK_FALSE(d.is_retryable());
    CHECK(d.query().empty());
}

TEST_CASE("errors: timeout_error is an operational_error but never retryable") {
    const timeout_error t("canceling statement", error_category::timeout, "57014");
    const operational_error& as_operational = t;
    const database_error& as_base = t;
    CHECK(as_operational.category() == error_category::timeout);
    CHECK_FALSE(as_base.is_retryable());
}

TEST_CASE("errors: SQLite code names come from the extended result code") {
    CHECK(sqlite_code_name(SQLITE_BUSY) == "SQLITE_BUSY");
    CHECK(sqlite_code_name(SQLITE_BUSY_SNAPSHOT) == "SQLITE_BUSY_SNAPSHOT");
    CHECK(sqlite_code_name(SQLITE_LOCKED_SHAREDCACHE) == "SQLITE_LOCKED_SHAREDCACHE");
    CHECK(sqlite_code_name(SQLITE_CONSTRAINT_UNIQUE) == "SQLITE_CONSTRAINT_UNIQUE");
    CHECK(sqlite_code_name(SQLITE_CONSTRAINT_FOREIGNKEY) == "SQLITE_CONSTRAINT_FOREIGNKEY");
    CHECK(sqlite_code_name(SQLITE_IOERR_FSYNC) == "SQLITE_IOERR_FSYNC");
    CHECK(sqlite_code_name(SQLITE_READONLY_DBMOVED) == "SQLITE_READONLY_DBMOVED");
    CHECK(sqlite_code_name(SQLITE_INTERRUPT) == "SQLITE_INTERRUPT");
    // An extended code this table does not know falls back to its primary code.
    CHECK(sqlite_code_name(SQLITE_CONSTRAINT | (99 << 8)) == "SQLITE_CONSTRAINT");
    CHECK(sqlite_code_name(4242) == "SQLITE_UNKNOWN_4242");
}

TEST_CASE("errors: SQLITE_BUSY and SQLITE_LOCKED in all variants are retryable operational errors") {
    for (int code : {SQLITE_BUSY, SQLITE_BUSY_RECOVERY, SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_TIMEOUT,
                     SQLITE_LOCKED, SQLITE_LOCKED_SHAREDCACHE, SQLITE_LOCKED_VTAB}) {
        CAPTURE(code);
        const caught c = classify(code);
        CHECK(c.klass == "operational_error");
        CHECK(c.category == error_category::retryable);
        CHECK(c.native == code);
        CHECK(c.code == sqlite_code_name(code));
    }
}

TEST_CASE("errors: constraint violations are integrity errors") {
    for (int code : {SQLITE_CONSTRAINT, SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY,
                     SQLITE_CONSTRAINT_NOTNULL, SQLITE_CONSTRAINT_FOREIGNKEY,
                     SQLITE_CONSTRAINT_CHECK}) {
        CAPTURE(code);
        const caught c = classify(code);
        CHECK(c.klass == "integrity_error");
        CHECK(c.category == error_category::integrity);
    }
}

TEST_CASE("errors: READONLY, ERROR, MISUSE and RANGE are programming errors") {
    for (int code : {SQLITE_READONLY, SQLITE_READONLY_DBMOVED, SQLITE_ERROR, SQLITE_MISUSE,
                     SQLITE_RANGE, SQLITE_MISMATCH}) {
        CAPTURE(code);
        const caught c = classify(code);
        CHECK(c.klass == "programming_error");
        CHECK(c.category == error_category::programming);
    }
}

TEST_CASE("errors: SQLITE_INTERRUPT is a timeout_error with category timeout") {
    const caught c = classify(SQLITE_INTERRUPT);
    CHECK(c.klass == "timeout_error");
    CHECK(c.category == error_category::timeout);
    CHECK(c.code == "SQLITE_INTERRUPT");
}

TEST_CASE("errors: I/O, full, corrupt and cannot-open are operational errors; full disk, I/O, memory and "
          "cannot-open are unavailable (503), corruption is other") {
    for (int code : {SQLITE_IOERR, SQLITE_IOERR_FSYNC, SQLITE_FULL, SQLITE_CORRUPT,
                     SQLITE_CANTOPEN, SQLITE_NOMEM, SQLITE_NOTADB}) {
        CAPTURE(code);
        const caught c = classify(code);
        CHECK(c.klass == "operational_error");
        const bool environment = code != SQLITE_CORRUPT && code != SQLITE_NOTADB;
        CHECK(c.category == (environment ? error_category::unavailable : error_category::other));
        CHECK_FALSE(c.category == error_category::retryable);  // not retried at once: the disk stays full
        // A full disk is recoverable; the others make the connection untrustworthy.
        CHECK(sqlite_code_breaks_connection(code) == (code != SQLITE_FULL));
    }
    CHECK_FALSE(sqlite_code_breaks_connection(SQLITE_BUSY));
    CHECK_FALSE(sqlite_code_breaks_connection(SQLITE_CONSTRAINT_UNIQUE));
}

TEST_CASE("errors: an invalid database name is a backend-neutral operational error (3D000), not std::invalid_argument") {
    const invalid_database_name error("invalid database name \"a.b\"");
    const operational_error& as_operational = error;
    CHECK(as_operational.code() == "3D000");
    CHECK(as_operational.category() == error_category::other);
    CHECK_FALSE(as_operational.is_retryable());
    CHECK(dynamic_cast<const std::invalid_argument*>(static_cast<const std::exception*>(&error)) == nullptr);
}

TEST_CASE("errors: the SQLite error message names the code and keeps the query apart") {
    const caught c = classify(SQLITE_CONSTRAINT_UNIQUE, "INSERT INTO t VALUES (?)");
    CHECK(c.what == "boom (SQLITE_CONSTRAINT_UNIQUE)");
    CHECK(c.query == "INSERT INTO t VALUES (?)");
    CHECK(c.native == SQLITE_CONSTRAINT_UNIQUE);
}

TEST_CASE("errors: throw_sqlite_error throws the mapped class") {
    CHECK_THROWS_AS(throw_sqlite_error(SQLITE_BUSY, "locked"), operational_error);
    CHECK_THROWS_AS(throw_sqlite_error(SQLITE_CONSTRAINT_NOTNULL, "null"), integrity_error);
    CHECK_THROWS_AS(throw_sqlite_error(SQLITE_INTERRUPT, "interrupted"), timeout_error);
}

}  // TEST_SUITE
