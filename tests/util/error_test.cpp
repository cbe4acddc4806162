// The root of the error tree: categories and their default wire shapes.

#include "util/error.hpp"

#include <doctest/doctest.h>

#include <string>

using atrium::error;
using atrium::error_category;

TEST_SUITE("error tree") {

TEST_CASE("error: what(), category and the default payload [message, \"\"]") {
    const error e("bad ids", error_category::invalid_argument);
    CHECK(std::string(e.what()) == "bad ids");
    CHECK(e.category() == error_category::invalid_argument);
    CHECK(e.payload() == nlohmann::json::array({"bad ids", ""}));
    const std::runtime_error& as_std = e;  // what() through the standard base
    CHECK(std::string(as_std.what()) == "bad ids");
}

TEST_CASE("error: the default wire shape of each category (SPEC §8.4)") {
    struct expected {
        error_category category;
        std::string name;
        int code;
        int status;
    };
    for (const expected& row : {
             expected{error_category::user, "UserError", -32001, 400},
             expected{error_category::access, "AccessError", -32005, 400},
             expected{error_category::user_warning, "UserWarning", -32002, 409},
             expected{error_category::login, "LoginException", -32003, 403},
             expected{error_category::concurrency, "ConcurrencyException", -32004, 423},
             expected{error_category::rate_limited, "RateLimitException", -32029, 429},
             expected{error_category::http, "", -32000, 500},
             expected{error_category::not_found, "", -32601, 500},
             expected{error_category::invalid_argument, "", -32602, 500},
             // Everything else is an internal error to the client.
             expected{error_category::retryable, "", -32603, 500},
             expected{error_category::in_doubt, "", -32603, 500},
             expected{error_category::integrity, "", -32603, 500},
             expected{error_category::programming, "", -32603, 500},
             expected{error_category::timeout, "", -32008, 408},
             expected{error_category::unavailable, "", -32603, 500},
             expected{error_category::other, "", -32603, 500},
             expected{error_category::needs_fix, "", -32603, 500},
             expected{error_category::transient, "", -32603, 500},
         }) {
        CAPTURE(to_string(row.category));
        const auto shape = error("x", row.category).wire();
        CHECK(shape.name == row.name);
        CHECK(shape.jsonrpc_code == row.code);
        CHECK(shape.http_status == row.status);
        CHECK_FALSE(shape.retry_after);
        CHECK_FALSE(shape.retryable);
    }
}

TEST_CASE("error: to_string names every category") {
    CHECK(to_string(error_category::needs_fix) == "needs_fix");
    CHECK(to_string(error_category::transient) == "transient");
    CHECK(to_string(error_category::invalid_argument) == "invalid_argument");
    CHECK(to_string(error_category::user) == "user");
    CHECK(to_string(error_category::user_warning) == "user_warning");
    CHECK(to_string(error_category::access) == "access");
    CHECK(to_string(error_category::login) == "login");
    CHECK(to_string(error_category::concurrency) == "concurrency");
    CHECK(to_string(error_category::rate_limited) == "rate_limited");
    CHECK(to_string(error_category::http) == "http");
    CHECK(to_string(error_category::not_found) == "not_found");
}

}  // TEST_SUITE
