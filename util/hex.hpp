#pragma once
/// @file
/// @brief One hexadecimal digit's value.

namespace atrium::util {

/// The value of the hex digit `c` (either case), or -1 if `c` is not one.
constexpr int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace atrium::util
