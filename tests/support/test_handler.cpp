#include "tests/support/test_handler.hpp"

#include "modules/errors.hpp"
#include "modules/ir/bus.hpp"
#include "database/errors.hpp"
#include "server/call_deadline.hpp"
#include "server/worker_pool.hpp"
#include "transaction/errors.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "transaction/retry.hpp"
#include "transaction/transaction.hpp"

#include <chrono>
#include <thread>

namespace atrium::test {

using namespace atrium::server;

namespace {

using json = nlohmann::json;

json first_param(const rpc_request& request) {
    if (request.params.empty()) throw value_error("missing argument");
    return request.params.front();
}

std::chrono::milliseconds seconds_param(const rpc_request& request) {
    const json value = first_param(request);
    if (!value.is_number()) throw type_error("seconds must be a number");
    return std::chrono::milliseconds(static_cast<long long>(value.get<double>() * 1000));
}

const char* dialect_name(rpc_dialect dialect) {
    switch (dialect) {
    case rpc_dialect::tryton_envelope:
        return "tryton_envelope";
    case rpc_dialect::tryton_bare:
        return "tryton_bare";
    case rpc_dialect::jsonrpc2:
        return "jsonrpc2";
    }
    return "?";
}

[[noreturn]] void raise(const std::string& kind) {
    if (kind == "user_error") throw modules::user_error("Bad value", "The value is wrong", json::array({"x", "=", 1}));
    if (kind == "access_error") throw modules::access_error("Access denied", "Not yours");
    if (kind == "user_warning") throw modules::user_warning("warn.key", "Careful", "Really?");
    if (kind == "login_exception") throw modules::login_exception("password", "Password", "password");
    if (kind == "concurrency_exception") throw modules::concurrency_exception("Record modified");
    if (kind == "rate_limit") throw modules::rate_limit_exception();
    if (kind == "value_error") throw value_error("Duplicate ids");
    if (kind == "type_error") throw type_error("context must be a dict");
    if (kind.rfind("http_", 0) == 0) throw http_error(std::stoi(kind.substr(5)), "refused", 7);
    throw std::runtime_error("SELECT secret FROM /etc/passwd failed");  // must never reach the client
}

}  // namespace

rpc_result test_handler::handle(const rpc_request& request) {
    const std::string& method = request.method;
    if (method == "test.echo") return {first_param(request)};
    if (method == "test.echo_kwargs") return {request.kwargs};
    if (method == "test.info") {
        return {json{{"database", request.database ? json(*request.database) : json(nullptr)},
                     {"dialect", dialect_name(request.dialect)},
                     {"id", request.id},
                     {"notification", request.notification},
                     {"authorization", request.http.authorization},
                     {"host", request.http.host},
                     {"remote_address", request.http.remote_address},
                     {"request_id", request.request_id}}};
    }
    if (method == "test.sleep") {
        log_info(method + " begins");  // tests wait for this line: the call is in flight
        fiber::current().sleep_for(seconds_param(request));
        return {"slept"};
    }
    if (method == "test.blocking_sleep") {
        const auto duration = seconds_param(request);
        log_info(method + " begins");
        run_blocking([&] { std::this_thread::sleep_for(duration); });
        return {"slept"};
    }
    if (method == "test.big") return {std::string(first_param(request).get<std::size_t>(), 'x')};
    if (method == "test.cached") return {"cached", first_param(request).get<int>()};
    if (method == "test.raise") raise(first_param(request).get<std::string>());
    if (method == "test.bus_notify" && backend_ && request.database) {
        // (channel, message, fail): sends on the bus in a transaction that commits, or fails after sending.
        const auto channel = request.params.at(0).get<std::string>();
        const auto message = request.params.at(1);
        const bool fail = request.params.size() > 2 && request.params.at(2).get<bool>();
        return {call_with_retry(backend_->open(*request.database), root_user, {}, [&](transaction&) -> json {
            const auto id = modules::ir::bus::notify(channel, message);
            if (fail) throw modules::user_error("test.bus_notify fails after sending message " + std::to_string(id));
            return id;
        })};
    }
    if ((method == "test.db_sleep" || method == "test.db_count") && backend_ && request.database) {
        auto database = backend_->open(*request.database);
        const bool postgresql = database->backend_name() == "postgresql";
        retry_options options;
        options.start.readonly = method == "test.db_count";
        try {
            return {call_with_retry(database, root_user, options, [&](transaction& txn) -> json {
                auto& c = txn.connection();
                if (method == "test.db_count") {
                    const auto exists = c.execute(postgresql ? "SELECT to_regclass('test_deadline') IS NOT NULL"
                                                             : "SELECT count(*) FROM sqlite_master WHERE name = 'test_deadline'");
                    if (std::get<std::int64_t>(exists.rows.at(0).at(0)) == 0) return 0;
                    const auto rows = c.execute("SELECT count(*) FROM test_deadline WHERE marker = ?",
                                                {request.params.at(0).get<std::string>()});
                    return std::get<std::int64_t>(rows.rows.at(0).at(0));
                }
                const double seconds = request.params.at(0).get<double>();
                c.execute("CREATE TABLE IF NOT EXISTS test_deadline (marker TEXT)");
                c.execute("INSERT INTO test_deadline (marker) VALUES (?)", {request.params.at(1).get<std::string>()});
                if (postgresql) {
                    c.execute("SELECT pg_sleep(?)", {seconds});
                } else {
                    // SQLite has no server-side sleep: a fiber sleep, cut at the deadline like a statement would be.
                    auto pause = std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
                    if (const auto left = db::time_left(txn.deadline())) pause = std::min(pause, *left);
                    fiber::current().sleep_for(pause);
                    c.execute("SELECT 1");
                }
                return true;
            })};
        } catch (const db::database_error& error) {
            if (error.category() != error_category::timeout) throw;
            throw call_timed_out(error, request.http.received, request.http.cancel && request.http.cancel->cancelled());
        }
    }
    return next_.handle(request);
}

}  // namespace atrium::test
