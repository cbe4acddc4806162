#pragma once
/// @file
/// @brief Test-only methods, served by atriumd when ATRIUM_TEST_METHODS=1 is
/// in its environment (the transport's tests need slow, failing and echoing
/// calls that no real module provides). Everything else goes to `next`.
///
/// - `test.echo(value)` → value; `test.echo_kwargs()` → the named params
/// - `test.info()` → database, dialect, id, notification, http fields
/// - `test.sleep(seconds)` → sleeps on the fiber; `test.blocking_sleep(seconds)`
///   → sleeps on a worker through run_blocking()
/// - `test.big(n)` → a string of n 'x'; `test.cached(seconds)` → "cached" with X-Tryton-Cache
/// - `test.raise(kind)`: user_error, access_error, user_warning, login_exception,
///   concurrency_exception, rate_limit, value_error, type_error, http_<status>, internal

#include "server/rpc_handler.hpp"

namespace atrium::server {

class test_handler : public rpc_handler {
public:
    explicit test_handler(rpc_handler& next) : next_(next) {}
    rpc_result handle(const rpc_request& request) override;
    bool authenticated_for_limits(const std::optional<std::string>& database, const rpc_http_info& http) override {
        return next_.authenticated_for_limits(database, http);
    }

private:
    rpc_handler& next_;
};

}  // namespace atrium::server
