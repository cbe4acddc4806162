// util/base64: the strict decoder (wire, Authorization), the lenient one
// (modules' bytes values), the encoder with and without MIME lines.

#include "util/base64.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace atrium::util;

TEST_SUITE("util") {

TEST_CASE("base64: round trip, whitespace ignored, invalid text refused, MIME lines") {
    for (const std::string& raw : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
        CHECK(base64_decode(base64_encode(raw)) == raw);
    }
    CHECK(base64_decode("aGVs\n bG8=") == "hello");
    CHECK_FALSE(base64_decode("aGVsbG8"));
    CHECK_FALSE(base64_decode("aGVsbG8=="));
    CHECK_FALSE(base64_decode("aG=sbG8="));
    CHECK_FALSE(base64_decode("a*=="));
    const std::string raw(100, 'z');
    const auto mime = base64_encode(raw, true);
    CHECK(mime.size() == 136 + 2);
    CHECK(mime[76] == '\n');
    CHECK(mime.back() == '\n');
    CHECK(base64_encode("", true).empty());
}

TEST_CASE("base64 encode: padding of each tail length, the whole alphabet, exact MIME line ends") {
    CHECK(base64_encode("").empty());
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foob") == "Zm9vYg==");
    CHECK(base64_encode(std::string("\xfb\xff\xbf", 3)) == "+/+/");
    CHECK(base64_encode(std::string(57, 'x'), true) == base64_encode(std::string(57, 'x')) + "\n");  // exactly 76
    CHECK(base64_encode(std::string(58, 'x'), true).size() == 76 + 1 + 4 + 1);
    CHECK(base64_encode("f", true) == "Zg==\n");
}

TEST_CASE("base64 strict decode: empty, padding, whitespace kinds, non-canonical bits") {
    CHECK(base64_decode("") == "");
    CHECK(base64_decode(" \t\r\n\v\f") == "");
    CHECK(base64_decode("Zg==") == "f");
    CHECK(base64_decode("Zm8=") == "fo");
    CHECK(base64_decode("Z g=\f=") == "f");
    CHECK_FALSE(base64_decode("Zg"));      // padding missing
    CHECK_FALSE(base64_decode("Zg="));     // padding short
    CHECK_FALSE(base64_decode("Zh=="));    // left-over bits not zero
    CHECK_FALSE(base64_decode("Zm9v===="));
    CHECK_FALSE(base64_decode("===="));
    CHECK_FALSE(base64_decode("Zg==Zg=="));  // data after padding
    CHECK_FALSE(base64_decode("Zm9v-_"));    // URL-safe alphabet is not this one
    CHECK_FALSE(base64_decode(std::string("Zm9\0", 4)));
}

TEST_CASE("base64 lenient decode: what modules' bytes values have always accepted") {
    CHECK(base64_decode_lenient("") == "");
    CHECK(base64_decode_lenient("AAEC\n/w==") == std::string("\0\1\2\xff", 4));
    CHECK(base64_decode_lenient("Zg") == "f");              // no padding
    CHECK(base64_decode_lenient("Zh") == "f");              // left-over bits dropped
    CHECK(base64_decode_lenient("Z") == "");                // a lone symbol yields nothing
    CHECK(base64_decode_lenient("Zg==!!garbage") == "f");   // stops at the first '='
    CHECK(base64_decode_lenient(" Z\tg\r\n") == "f");
    CHECK_FALSE(base64_decode_lenient("Zg\v=="));           // only space, tab, CR and LF are skipped
    CHECK_FALSE(base64_decode_lenient("Zm9v*"));
    CHECK_FALSE(base64_decode_lenient(std::string("Zm\0", 3)));
}

}  // TEST_SUITE
