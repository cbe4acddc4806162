#pragma once
/// @file
/// @brief JSON text ⇄ nlohmann::json for the wire (SPEC §8.5): strict reading
/// (nesting depth cap, integers beyond 64 bits carried as Decimal, special
/// `__class__` values validated) and ASCII-only writing (no NaN/Infinity
/// tokens, bytes as MIME base64 lines).

#include "util/error.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace atrium::server {

/// The body is not JSON (syntax, invalid UTF-8, nesting too deep).
class json_read_error : public error {
public:
    explicit json_read_error(const std::string& message) : error(message, error_category::other) {}
};

/// A `__class__` object that is malformed (missing field, bad Decimal text, bad base64…).
class special_value_error : public error {
public:
    explicit special_value_error(const std::string& message) : error(message, error_category::other) {}
};

/// Deepest array/object nesting accepted (a deeper body is a json_read_error;
/// it also bounds the recursion of everything that walks the value later).
inline constexpr std::size_t max_json_depth = 200;

/// Parses `text`. Numbers: integers that fit 64 bits stay integers; larger
/// integers and floats that overflow to infinity become
/// `{"__class__":"Decimal","decimal":"<text as sent>"}`. Throws json_read_error.
nlohmann::json read_json(std::string_view text);

/// Checks every `__class__` object in `value` (SPEC §8.5): datetime, date,
/// time need all their integer fields in range; timedelta a finite number of
/// seconds; Decimal a valid decimal text (NaN, Infinity accepted); bytes valid
/// base64 (whitespace ignored; stored back without it). Unknown class names
/// stay plain maps. Throws special_value_error naming the problem.
void validate_special_values(nlohmann::json& value);

/// True if `text` is a decimal number as Python's Decimal() accepts it
/// ("-1.50", "1e-7", "NaN", "Infinity"…).
bool valid_decimal_text(std::string_view text);

/// Prepares a result for the wire: NaN/±Infinity floats become Decimal
/// objects; bytes objects get their base64 re-wrapped as 76-character MIME
/// lines with a trailing newline; nlohmann binary values become bytes objects.
void encode_special_values(nlohmann::json& value);

/// Compact JSON, ASCII only (\uXXXX escapes, surrogate pairs beyond the BMP);
/// invalid UTF-8 in strings is replaced by U+FFFD rather than failing.
std::string dump_ascii(const nlohmann::json& value);

/// dump_ascii(value) appended to `out` (no temporary string).
void dump_ascii_to(std::string& out, const nlohmann::json& value);

/// dump_ascii() of the object {key: *value...} appended to `out`, without
/// building it: the keys must be in sorted order and need no escaping.
void dump_ascii_object_to(std::string& out,
                          std::initializer_list<std::pair<std::string_view, const nlohmann::json*>> members);

}  // namespace atrium::server
