#include "server/call_deadline.hpp"

#include "transaction/logging.hpp"

#include <charconv>
#include <cstdio>
#include <cmath>

namespace atrium::server {

std::optional<std::chrono::milliseconds> parse_timeout_header(std::string_view value) {
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    // Plain decimal only: no sign, exponent, hex, inf or nan.
    if (value.empty() || value.size() > 32) return std::nullopt;
    bool digits = false;
    bool point = false;
    for (char c : value) {
        if (c >= '0' && c <= '9') {
            digits = true;
        } else if (c == '.' && !point) {
            point = true;
        } else {
            return std::nullopt;
        }
    }
    if (!digits) return std::nullopt;
    double seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
    if (!(seconds > 0) || seconds > 24 * 3600) return std::nullopt;
    return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000)));
}

std::chrono::steady_clock::time_point call_deadline(std::chrono::steady_clock::time_point received,
                                                   std::chrono::milliseconds allowed,
                                                   std::optional<std::chrono::milliseconds> client) {
    if (received == std::chrono::steady_clock::time_point{}) received = std::chrono::steady_clock::now();
    if (client && *client < allowed) allowed = *client;
    return received + allowed;
}

call_timeout_error call_timed_out(const std::exception& cause, std::chrono::steady_clock::time_point received,
                                  bool cancelled) {
    if (received == std::chrono::steady_clock::time_point{}) received = std::chrono::steady_clock::now();
    char after[32];
    std::snprintf(after, sizeof after, "%.1f",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
    log_warning(std::string("call stopped: ") + cause.what());
    if (cancelled)
        return call_timeout_error(std::string("Request cancelled: the client closed the connection after ") + after +
                                  " s; the call was rolled back");
    return call_timeout_error(std::string("Request Timeout: the call did not finish within its deadline (") + after +
                              " s); it was rolled back");
}

}  // namespace atrium::server
