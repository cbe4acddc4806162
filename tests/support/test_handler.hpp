#pragma once
/// @file
/// @brief Test-only methods, served by the tests' atriumd_test (atriumd plus
/// these, tests/support/atriumd_test_main.cpp) and used in-process by the codec
/// tests: the transport's tests need slow, failing and echoing calls that no
/// real module provides. Everything else goes to `next`.
///
/// - `test.echo(value)` → value; `test.echo_kwargs()` → the named params
/// - `test.info()` → database, dialect, id, notification, http fields
/// - `test.sleep(seconds)` → sleeps on the fiber; `test.blocking_sleep(seconds)`
///   → sleeps on a worker through run_blocking()
/// - `test.big(n)` → a string of n 'x'; `test.cached(seconds)` → "cached" with X-Tryton-Cache
/// - `test.raise(kind)`: user_error, access_error, user_warning, login_exception,
///   concurrency_exception, rate_limit, value_error, type_error, http_<status>, internal
/// - with a backend (atriumd_test), on the route's database, as root, under the
///   call's limits (deadline, cancellation): `test.db_sleep(seconds, marker)`
///   inserts `marker` into `test_deadline` then sleeps in the database
///   (PostgreSQL: `SELECT pg_sleep(seconds)`; SQLite: a fiber sleep, up to the
///   deadline, then a statement) and commits; `test.db_count(marker)` → rows with `marker`;
///   `test.bus_notify(channel, message[, fail])` → the id of a bus message sent
///   in a transaction that commits, or (fail) raises a user error after sending

#include "database/database.hpp"
#include "server/rpc_handler.hpp"

#include <memory>

namespace atrium::test {

class test_handler : public server::rpc_handler {
public:
    explicit test_handler(server::rpc_handler& next, std::shared_ptr<db::backend> backend = nullptr)
        : next_(next), backend_(std::move(backend)) {}
    server::rpc_result handle(const server::rpc_request& request) override;
    bool authenticated_for_limits(const std::optional<std::string>& database, const server::rpc_http_info& http) override {
        return next_.authenticated_for_limits(database, http);
    }
    server::bus_subscriber subscriber_for_bus(const std::string& database, const server::rpc_http_info& http) override {
        return next_.subscriber_for_bus(database, http);
    }

private:
    server::rpc_handler& next_;
    std::shared_ptr<db::backend> backend_;
};

}  // namespace atrium::test
