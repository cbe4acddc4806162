// The logging facade: levels, sinks, exception descriptions, guarded calls.

#include "fiber/unwind.hpp"
#include "tests/support/recording_data_manager.hpp"  // log_capture
#include "transaction/errors.hpp"
#include "transaction/logging.hpp"

#include <doctest/doctest.h>

#include <exception>
#include <stdexcept>
#include <string>

using namespace atrium;
using atrium::test::log_capture;

TEST_CASE("logging facade: levels, sink capture and restore, exception descriptions") {
    CHECK(to_string(log_level::critical) == "CRITICAL");
    CHECK(to_string(log_level::info) == "INFO");
    {
        log_capture captured;
        log_critical("c");
        log_error("e");
        log_warning("w");
        log_info("i");
        REQUIRE(captured.entries().size() == 4);
        CHECK(captured.entries()[0].level == log_level::critical);
        CHECK(captured.entries()[3].message == "i");
        {
            log_capture inner;
            log_error("inner only");
            CHECK(inner.count(log_level::error) == 1);
        }
        log_error("outer again");
        CHECK(captured.contains(log_level::error, "outer again"));
        CHECK_FALSE(captured.contains(log_level::error, "inner only"));
    }
    CHECK(describe_exception(std::make_exception_ptr(value_error("bad"))) == "atrium::value_error: bad");
    CHECK(describe_exception(std::make_exception_ptr(42)).find("unknown exception") != std::string::npos);
    CHECK_FALSE(fiber::is_unwinding(std::make_exception_ptr(std::runtime_error("x"))));
    log_capture captured;
    auto error = call_guarded(log_level::warning, "doing things", [] { throw std::runtime_error("oops"); });
    CHECK(error != nullptr);
    CHECK(captured.contains(log_level::warning, "doing things: std::runtime_error: oops"));
    CHECK(call_guarded(log_level::warning, "fine", [] {}) == nullptr);
}
