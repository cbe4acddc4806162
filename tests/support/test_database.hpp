#pragma once
/// @file
/// @brief The backend-neutral database fixture of the conformance suite.
///
/// The backend under test comes from env ATRIUM_TEST_BACKEND=sqlite|postgresql
/// (default sqlite). ctest registers the conformance binary once per backend
/// (tests/CMakeLists.txt); run by hand:
///
///     ./tests/conformance_tests                                 # SQLite
///     ATRIUM_TEST_BACKEND=postgresql ./tests/conformance_tests  # starts its own cluster
///
/// Cases that only hold on one backend go into TEST_SUITE(sqlite_only) or
/// TEST_SUITE(postgresql_only) (the macros below): ctest does not register
/// them for the other backend, and a hand run reports them as skipped.

#include "database/database.hpp"
#include "tests/support/temp_dir.hpp"
#include "transaction/fiber_context.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::test {

enum class backend_kind { sqlite, postgresql };

/// ATRIUM_TEST_BACKEND (default sqlite). Throws std::invalid_argument on another value.
backend_kind test_backend();
std::string_view to_string(backend_kind kind) noexcept;
/// test_backend() == kind; false (instead of throwing) on a bad ATRIUM_TEST_BACKEND.
bool testing(backend_kind kind) noexcept;

/// Column types that differ between the backends.
struct sql_dialect {
    std::string_view serial_id;  ///< an auto-numbered integer primary key column "id …"
    std::string_view integer;    ///< 64-bit integer
    std::string_view real;       ///< double
    std::string_view blob;       ///< bytes
};
const sql_dialect& dialect(backend_kind kind = test_backend());

/// A backend of the kind under test on which a test may create databases:
/// SQLite in its own temporary directory, PostgreSQL on the test cluster
/// (pg_dsn()). Databases named by unique_name() that still exist are dropped
/// when it dies.
class scratch_backend {
public:
    /// `uri_query` is appended to the URI ("?busy_wait_ms=100" on SQLite).
    explicit scratch_backend(std::string_view uri_query = {}, db::wait_hooks hooks = fiber_wait_hooks());
    ~scratch_backend();
    scratch_backend(const scratch_backend&) = delete;
    scratch_backend& operator=(const scratch_backend&) = delete;

    backend_kind kind() const noexcept { return kind_; }
    /// The URI the backend was opened with.
    const std::string& uri() const noexcept { return uri_; }
    db::backend& operator*() const noexcept { return *backend_; }
    db::backend* operator->() const noexcept { return backend_.get(); }
    db::backend& get() const noexcept { return *backend_; }

    /// A database name no other test uses (valid on every backend: [a-z0-9_]).
    std::string unique_name(std::string_view stem = "t");
    /// Another backend object on the same directory or server.
    std::unique_ptr<db::backend> open_again(db::wait_hooks hooks = fiber_wait_hooks()) const;

private:
    backend_kind kind_;
    std::optional<temp_dir> dir_;
    std::string uri_;
    std::unique_ptr<db::backend> backend_;
    std::vector<std::string> names_;
};

/// A fresh database of the backend under test holding
///   note  (id serial primary key, text TEXT NOT NULL)
///   party (id serial primary key, name TEXT)
/// dropped when the fixture dies. On SQLite the busy wait is 100 ms (lock
/// contention stays quick); every wait goes through the fiber (fiber_wait_hooks()).
struct test_database {
    scratch_backend server;
    std::string name;
    std::shared_ptr<db::database> db;

    test_database();
    ~test_database();
    test_database(const test_database&) = delete;
    test_database& operator=(const test_database&) = delete;

    backend_kind kind() const noexcept { return server.kind(); }

    /// Runs one statement in its own DB transaction on a pooled connection and commits.
    db::result execute(std::string_view sql, const std::vector<db::value>& params = {});
    /// Notes as another connection sees them (committed data only), by id.
    std::vector<std::string> committed_notes();
};

}  // namespace atrium::test

/// Suites of cases that hold on one backend only (see the file comment). The
/// skip decorator keeps hand runs honest; ctest excludes the suite by name.
#define ATRIUM_SQLITE_ONLY \
    "sqlite-only" * doctest::skip(!::atrium::test::testing(::atrium::test::backend_kind::sqlite))
#define ATRIUM_POSTGRESQL_ONLY \
    "postgresql-only" * doctest::skip(!::atrium::test::testing(::atrium::test::backend_kind::postgresql))
