// util/text: trim and trim_end with each blank set the old copies used.

#include "util/text.hpp"

#include <doctest/doctest.h>

using namespace atrium::util;

TEST_SUITE("util") {

TEST_CASE("trim: default blanks are C's isspace set") {
    CHECK(trim("").empty());
    CHECK(trim(" \t\n\r\f\v").empty());
    CHECK(trim(" \t\n\r\f\va b\f\v\r\n\t ") == "a b");
    CHECK(trim("x") == "x");
    CHECK(trim("\xa0x\xa0") == "\xa0x\xa0");  // no non-ASCII blanks
}

TEST_CASE("trim: HTTP optional whitespace is space and tab only") {
    CHECK(trim(" \tgzip\t ", http_whitespace) == "gzip");
    CHECK(trim("\r\ngzip\r\n", http_whitespace) == "\r\ngzip\r\n");
    CHECK(trim(" \t ", http_whitespace).empty());
}

TEST_CASE("trim: line whitespace keeps form feed and vertical tab") {
    CHECK(trim("\r\n 5 \t\n", line_whitespace) == "5");
    CHECK(trim("\f5\v", line_whitespace) == "\f5\v");
}

TEST_CASE("trim_end: only the end is trimmed") {
    CHECK(trim_end("").empty());
    CHECK(trim_end("  ").empty());
    CHECK(trim_end(" a b \n") == " a b");
    CHECK(trim_end("message\n \n", "\n ") == "message");
    CHECK(trim_end("message\t\n", "\n ") == "message\t");
}

}  // TEST_SUITE
