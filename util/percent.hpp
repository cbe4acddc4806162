#pragma once
/// @file
/// @brief Percent-decoding (RFC 3986 "%XX" escapes) of URI parts.

#include <string>
#include <string_view>

namespace atrium::util {

/// Why percent_decode stopped.
enum class percent_error {
    none,
    bad_escape,  ///< a '%' not followed by two hex digits
    nul_byte,    ///< an escape decoding to NUL, with `refuse_nul`
};

struct percent_decoded {
    std::string text;  ///< the decoded text; meaningless unless error is none
    percent_error error = percent_error::none;
};

/// Decodes every "%XX" escape of `text` (hex digits of either case; '+' stays
/// '+'). Stops at the first bad escape, or, with `refuse_nul`, at the first
/// escape decoding to a NUL byte (a literal NUL in `text` is kept as it is).
percent_decoded percent_decode(std::string_view text, bool refuse_nul = false);

}  // namespace atrium::util
