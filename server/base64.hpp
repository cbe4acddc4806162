#pragma once
/// @file
/// @brief Base64 (RFC 4648, standard alphabet) for the wire's bytes values and
/// the Authorization header.

#include <optional>
#include <string>
#include <string_view>

namespace atrium::server {

/// Decodes `text`, ignoring ASCII whitespace; nullopt if it is not valid
/// base64 (bad character, bad length, bad padding).
std::optional<std::string> base64_decode(std::string_view text);

/// Encodes `bytes`; `mime_lines` breaks the output into lines of 76
/// characters, each ended by '\n' (Python's base64.encodebytes, which Tryton
/// clients produce and expect).
std::string base64_encode(std::string_view bytes, bool mime_lines = false);

}  // namespace atrium::server
