#pragma once
/// @file
/// @brief Trimming blanks off text.

#include <string_view>

namespace atrium::util {

/// C's isspace() set in the "C" locale.
inline constexpr std::string_view ascii_whitespace = " \t\n\r\f\v";
/// HTTP's optional whitespace (RFC 9110 OWS): space and tab only.
inline constexpr std::string_view http_whitespace = " \t";
/// Line ends, spaces and tabs (configuration values, files read whole).
inline constexpr std::string_view line_whitespace = " \t\r\n";

/// `text` without leading and trailing characters from `blanks`.
std::string_view trim(std::string_view text, std::string_view blanks = ascii_whitespace) noexcept;

/// `text` without trailing characters from `blanks`.
std::string_view trim_end(std::string_view text, std::string_view blanks = ascii_whitespace) noexcept;

}  // namespace atrium::util
