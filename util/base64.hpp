#pragma once
/// @file
/// @brief Base64 (RFC 4648, standard alphabet): the wire's bytes values, the
/// Authorization header, bytes values in the ORM.

#include <optional>
#include <string>
#include <string_view>

namespace atrium::util {

/// Decodes `text`, ignoring ASCII whitespace; nullopt if it is not valid
/// base64 (bad character, bad length, bad padding).
std::optional<std::string> base64_decode(std::string_view text);

/// The tolerant reading the ORM's bytes values have always had: skips ' ',
/// '\t', '\r' and '\n', stops at the first '=', accepts missing padding and
/// drops left-over bits; nullopt only for a character outside the alphabet.
std::optional<std::string> base64_decode_lenient(std::string_view text);

/// Encodes `bytes`; `mime_lines` breaks the output into lines of 76
/// characters, each ended by '\n' (Python's base64.encodebytes, which Tryton
/// clients produce and expect).
std::string base64_encode(std::string_view bytes, bool mime_lines = false);

}  // namespace atrium::util
