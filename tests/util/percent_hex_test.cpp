// util/hex and util/percent: digit values, %XX decoding and where it stops.

#include "util/hex.hpp"
#include "util/percent.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace atrium::util;

TEST_SUITE("util") {

TEST_CASE("hex_value: both cases, -1 for anything else") {
    static_assert(hex_value('0') == 0 && hex_value('9') == 9);
    static_assert(hex_value('a') == 10 && hex_value('F') == 15);
    for (const char c : std::string("gG/:@`\0 x", 9)) CHECK(hex_value(c) == -1);
    CHECK(hex_value('\xff') == -1);
}

TEST_CASE("percent_decode: escapes of either case, '+' kept, plain text unchanged") {
    CHECK(percent_decode("").text.empty());
    CHECK(percent_decode("").error == percent_error::none);
    CHECK(percent_decode("a%2Fb%2fc+d").text == "a/b/c+d");
    CHECK(percent_decode("%41").text == "A");  // an escape ending the text
    CHECK(percent_decode("%e2%82%AC").text == "\xe2\x82\xac");
    CHECK(percent_decode("%00").text == std::string(1, '\0'));
    CHECK(percent_decode("%00").error == percent_error::none);
}

TEST_CASE("percent_decode: a '%' without two hex digits is a bad escape") {
    for (const char* bad : {"%", "%4", "abc%", "%zz", "%4g", "%%41", "ok%2"})
        CHECK(percent_decode(bad).error == percent_error::bad_escape);
}

TEST_CASE("percent_decode: refuse_nul stops at a %00 escape, not at a literal NUL") {
    CHECK(percent_decode("a%00b", true).error == percent_error::nul_byte);
    CHECK(percent_decode(std::string("a\0b", 3), true).error == percent_error::none);
    CHECK(percent_decode(std::string("a\0b", 3), true).text == std::string("a\0b", 3));
    // The first problem decides, as the database URI parsers always reported.
    CHECK(percent_decode("%00%zz", true).error == percent_error::nul_byte);
    CHECK(percent_decode("%zz%00", true).error == percent_error::bad_escape);
}

}  // TEST_SUITE
