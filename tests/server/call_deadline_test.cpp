// The call's deadline as the server computes it (issue 20): the header's
// syntax, and the rule "web.call_timeout or the method's own timeout,
// lowered but never raised by the client".

#include "server/call_deadline.hpp"

#include <doctest/doctest.h>

using namespace atrium::server;
using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST_CASE("X-Atrium-Timeout: seconds > 0, plain decimal, rounded up to milliseconds") {
    CHECK(parse_timeout_header("2") == milliseconds(2000));
    CHECK(parse_timeout_header(" 0.5 ") == milliseconds(500));
    CHECK(parse_timeout_header("0.0001") == milliseconds(1));
    CHECK(parse_timeout_header("86400") == milliseconds(86400000));
    for (const char* bad : {"", " ", "0", "0.0", "-1", "+1", "1e3", "nan", "inf", "1,5", "1.2.3", ".", "86401",
                            "0x10", "1 s", "99999999999999999999999999999999999"}) {
        CAPTURE(bad);
        CHECK(!parse_timeout_header(bad));
    }
}

TEST_CASE("call_deadline: the allowed time, lowered by the client, never raised") {
    const auto received = steady_clock::now();
    CHECK(call_deadline(received, 60s, std::nullopt) == received + 60s);
    CHECK(call_deadline(received, 60s, milliseconds(1500)) == received + 1500ms);
    CHECK(call_deadline(received, 60s, milliseconds(120000)) == received + 60s);  // cannot raise
    // A method's own timeout replaces web.call_timeout, longer or shorter; the client still lowers it only.
    CHECK(call_deadline(received, 600s, std::nullopt) == received + 600s);
    CHECK(call_deadline(received, 600s, milliseconds(900000)) == received + 600s);
    CHECK(call_deadline(received, 2s, milliseconds(5000)) == received + 2s);
    // No receive time: counted from now.
    const auto before = steady_clock::now();
    const auto deadline = call_deadline({}, 1s, std::nullopt);
    CHECK(deadline >= before + 1s);
    CHECK(deadline <= steady_clock::now() + 1s);
}
