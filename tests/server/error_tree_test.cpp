// One error tree: every error class is an atrium::error with the category the
// retry loop and the codec read, and the codec answers each category in the
// shape of each dialect.

#include "database/errors.hpp"
#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "server/call_deadline.hpp"
#include "server/config.hpp"
#include "server/jsonrpc_codec.hpp"
#include "server/jsonrpc_values.hpp"
#include "server/mail_sender.hpp"
#include "server/rpc_handler.hpp"
#include "transaction/errors.hpp"

#include <doctest/doctest.h>

#include <exception>
#include <string>
#include <vector>

using namespace atrium;
using json = nlohmann::json;

namespace {

// Throws whatever it was given.
struct throwing_handler : server::rpc_handler {
    std::exception_ptr error;
    server::rpc_result handle(const server::rpc_request&) override { std::rethrow_exception(error); }
};

struct codec {
    throwing_handler handler;
    server::codec_options options;
    std::vector<std::string> outcomes;

    explicit codec(std::exception_ptr error) {
        handler.error = std::move(error);
        options.log_call = [this](const server::rpc_call_record& record) { outcomes.push_back(record.outcome); };
    }
    server::rpc_http_reply call(const std::string& body) {
        server::rpc_call_context context;
        context.request_id = "r1";
        return server::handle_jsonrpc(body, "application/json", context, handler, options);
    }
    server::rpc_http_reply envelope() { return call(R"({"id": 1, "method": "m.x", "params": []})"); }
    server::rpc_http_reply bare() { return call(R"({"method": "m.x", "params": []})"); }
    server::rpc_http_reply v2() { return call(R"({"jsonrpc": "2.0", "id": 1, "method": "m.x"})"); }
    server::rpc_http_reply batch() { return call(R"([{"jsonrpc": "2.0", "id": 1, "method": "m.x"}])"); }
};

// A Tryton error of a kind the server does not know.
class custom_tryton_error : public modules::tryton_error {
public:
    custom_tryton_error() : tryton_error("custom") {}
    json payload() const override { return json::array({"CustomError", "custom"}); }
};

template <class E>
error_category category_of(const E& e) {
    const error& root = e;
    return root.category();
}

}  // namespace

TEST_SUITE("error tree") {

TEST_CASE("every error class is an atrium::error of its category") {
    CHECK(category_of(db::timeout_error("t", error_category::timeout, "57014")) == error_category::timeout);
    CHECK(category_of(db::operational_error("b", error_category::retryable, "40001")) == error_category::retryable);
    CHECK(category_of(db::invalid_database_name("n")) == error_category::other);
    CHECK(category_of(value_error("v")) == error_category::invalid_argument);
    CHECK(category_of(type_error("t")) == error_category::invalid_argument);
    CHECK(category_of(key_error("k")) == error_category::programming);
    CHECK(category_of(no_transaction()) == error_category::programming);
    CHECK(category_of(already_in_transaction()) == error_category::programming);
    CHECK(category_of(table_lock_required("t")) == error_category::needs_fix);
    CHECK(category_of(record_lock_required("t", {1})) == error_category::needs_fix);
    CHECK(category_of(doomed_transaction()) == error_category::other);
    CHECK(category_of(transaction_failed_error("f")) == error_category::other);
    CHECK(category_of(invalid_savepoint_rollback_error("s")) == error_category::programming);
    CHECK(category_of(heuristic_commit_error("h")) == error_category::other);
    CHECK(category_of(transient_error("t")) == error_category::transient);
    CHECK(category_of(modules::user_error("u")) == error_category::user);
    CHECK(category_of(modules::access_error("a")) == error_category::access);
    CHECK(category_of(modules::user_warning("n", "w")) == error_category::user_warning);
    CHECK(category_of(modules::login_exception("n", "m", "t")) == error_category::login);
    CHECK(category_of(modules::concurrency_exception("c")) == error_category::concurrency);
    CHECK(category_of(modules::rate_limit_exception()) == error_category::rate_limited);
    CHECK(category_of(custom_tryton_error()) == error_category::user);
    CHECK(category_of(modules::unknown_module("m")) == error_category::other);
    CHECK(category_of(modules::dependency_cycle("m")) == error_category::other);
    CHECK(category_of(server::http_error(401)) == error_category::http);
    CHECK(category_of(server::service_unavailable("s", 1)) == error_category::http);
    CHECK(category_of(server::method_not_found("m")) == error_category::not_found);
    CHECK(category_of(server::config_error("c")) == error_category::other);
    CHECK(category_of(mail::smtp_error("s", 550)) == error_category::other);
    CHECK(category_of(server::json_read_error("j")) == error_category::other);
    CHECK(category_of(server::special_value_error("s")) == error_category::other);
}

TEST_CASE("the old catch clauses still catch: timeout_error is an operational_error and a database_error") {
    try {
        throw db::timeout_error("canceling statement", error_category::timeout, "57014");
    } catch (const db::operational_error& e) {
        const db::database_error& as_database = e;
        const std::runtime_error& as_std = e;
        CHECK(as_database.code() == "57014");
        CHECK(std::string(as_std.what()) == "canceling statement");
    }
    CHECK_THROWS_AS(throw modules::access_error("a"), modules::user_error);
    CHECK_THROWS_AS(throw server::service_unavailable("s", 1), server::http_error);
    CHECK_THROWS_AS(throw table_lock_required("t"), transaction_error);
}

TEST_CASE("wire shapes that carry data: HTTP status and Retry-After, the 503 that is retryable") {
    const auto refused = server::http_error(403, "Forbidden", 5).wire();
    CHECK(refused.http_status == 403);
    CHECK(refused.retry_after == 5);
    CHECK(refused.jsonrpc_code == -32000);
    CHECK_FALSE(refused.retryable);
    const auto busy = server::service_unavailable("busy", 1).wire();
    CHECK(busy.http_status == 503);
    CHECK(busy.retry_after == 1);
    CHECK(busy.jsonrpc_code == -32050);
    CHECK(busy.retryable);
    const auto custom = custom_tryton_error().wire();
    CHECK(custom.name == "TrytonError");
    CHECK(custom.jsonrpc_code == -32000);
    CHECK(custom.http_status == 400);
}

TEST_CASE("codec: a Tryton error without a category of its own is a TrytonError, -32000, bare 400") {
    codec c(std::make_exception_ptr(custom_tryton_error()));
    auto reply = c.envelope();
    CHECK(reply.status == 200);
    CHECK(json::parse(reply.body) == json::parse(R"({"id": 1, "error": ["CustomError", "custom"]})"));
    reply = c.bare();
    CHECK(reply.status == 400);
    CHECK(json::parse(reply.body) == json::parse(R"(["CustomError", "custom"])"));
    reply = c.v2();
    CHECK(reply.status == 200);
    CHECK(json::parse(reply.body) ==
          json::parse(R"({"jsonrpc": "2.0", "id": 1,
                          "error": {"code": -32000, "message": "custom", "data": ["CustomError", "custom"]}})"));
    CHECK(c.outcomes == std::vector<std::string>{"TrytonError", "TrytonError", "TrytonError"});
}

TEST_CASE("codec: the log outcome of each category") {
    struct expected {
        std::exception_ptr error;
        std::string outcome;
    };
    for (const auto& [error, outcome] : {
             expected{std::make_exception_ptr(modules::user_error("u")), "UserError"},
             expected{std::make_exception_ptr(modules::access_error("a")), "AccessError"},
             expected{std::make_exception_ptr(modules::user_warning("n", "w")), "UserWarning"},
             expected{std::make_exception_ptr(modules::login_exception("n", "m", "t")), "LoginException"},
             expected{std::make_exception_ptr(modules::concurrency_exception("c")), "ConcurrencyException"},
             expected{std::make_exception_ptr(modules::rate_limit_exception()), "RateLimitException"},
             expected{std::make_exception_ptr(server::http_error(404)), "HTTP 404"},
             expected{std::make_exception_ptr(server::service_unavailable("s", 1)), "HTTP 503"},
             expected{std::make_exception_ptr(server::method_not_found("m.x")), "method not found"},
             expected{std::make_exception_ptr(value_error("v")), "invalid params"},
             expected{std::make_exception_ptr(type_error("t")), "invalid params"},
             expected{std::make_exception_ptr(key_error("k")), "internal error"},
             expected{std::make_exception_ptr(table_lock_required("t")), "internal error"},
             expected{std::make_exception_ptr(transient_error("t")), "internal error"},
             expected{std::make_exception_ptr(server::config_error("c")), "internal error"},
             expected{std::make_exception_ptr(std::runtime_error("r")), "internal error"},
         }) {
        codec c(error);
        c.envelope();
        REQUIRE(c.outcomes.size() == 1);
        CHECK(c.outcomes[0] == outcome);
    }
}

TEST_CASE("codec: database errors that reach it unconverted are internal errors in every dialect") {
    // The dispatcher turns timeouts into 408 and transient errors into 503;
    // the codec itself never guesses from a database category.
    for (const auto category : {error_category::retryable, error_category::unavailable, error_category::timeout,
                                error_category::in_doubt, error_category::integrity, error_category::programming}) {
        CAPTURE(to_string(category));
        codec c(std::make_exception_ptr(db::operational_error("secret detail", category, "XX000")));
        auto reply = c.envelope();
        CHECK(reply.status == 200);
        CHECK(json::parse(reply.body) ==
              json::parse(R"j({"id": 1, "error": ["Internal error (request r1)", ""]})j"));
        CHECK(c.bare().status == 500);
        reply = c.v2();
        CHECK(reply.status == 200);
        CHECK(json::parse(reply.body)["error"]["code"] == -32603);
    }
}

TEST_CASE("codec: a call past its deadline is 408 plain (Tryton), -32008 with HTTP 408 alone and 200 in a batch (2.0)") {
    codec c(std::make_exception_ptr(server::call_timeout_error("Request Timeout: the call did not finish")));
    auto reply = c.envelope();
    CHECK(reply.status == 408);
    CHECK(reply.body.find("did not finish") != std::string::npos);
    CHECK(c.bare().status == 408);
    reply = c.v2();
    CHECK(reply.status == 408);
    CHECK(json::parse(reply.body) ==
          json::parse(R"({"jsonrpc": "2.0", "id": 1, "error": {"code": -32008,
                          "message": "Request Timeout: the call did not finish", "data": {"status": 408}}})"));
    reply = c.batch();
    CHECK(reply.status == 200);
    CHECK(json::parse(reply.body)[0]["error"]["code"] == -32008);
}

TEST_CASE("codec: an HTTP refusal is plain alone, the member's -32000 error with data.status in a batch") {
    codec c(std::make_exception_ptr(server::http_error(403, "Forbidden")));
    auto reply = c.v2();
    CHECK(reply.status == 403);
    CHECK(reply.body.find("Forbidden") != std::string::npos);
    reply = c.batch();
    CHECK(reply.status == 200);
    CHECK(json::parse(reply.body) ==
          json::parse(R"([{"jsonrpc": "2.0", "id": 1,
                           "error": {"code": -32000, "message": "Forbidden", "data": {"status": 403}}}])"));
}

TEST_CASE("codec: bad arguments are -32602 with the message, [message, \"\"] and bare 500 in Tryton's dialect") {
    codec c(std::make_exception_ptr(value_error("Duplicate ids")));
    CHECK(json::parse(c.envelope().body) == json::parse(R"({"id": 1, "error": ["Duplicate ids", ""]})"));
    auto reply = c.bare();
    CHECK(reply.status == 500);
    CHECK(json::parse(reply.body) == json::parse(R"(["Duplicate ids", ""])"));
    CHECK(json::parse(c.v2().body) ==
          json::parse(R"({"jsonrpc": "2.0", "id": 1,
                          "error": {"code": -32602, "message": "Invalid params", "data": "Duplicate ids"}})"));
}

}  // TEST_SUITE
