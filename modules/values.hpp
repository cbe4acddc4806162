#pragma once
// SPEC §8.5 value types on the JSON boundary and their typed C++ forms:
// exact decimals, dates, naive datetimes, bytes. Module code reads fields
// through these types; the JSON objects are what crosses the RPC boundary.

#include "database/value.hpp"

#include <nlohmann/json.hpp>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::modules {

/// An exact decimal: unscaled × 10^-scale (never a binary float).
class decimal {
public:
    decimal() = default;
    explicit decimal(std::int64_t integer) : unscaled_(integer) {}
    /// Parses "12.50", "-3", "1e2" is rejected; throws value_error on bad text.
    static decimal parse(std::string_view text);
    std::string to_string() const;
    int scale() const noexcept { return scale_; }
    /// Rounds half away from zero to `digits` decimals.
    decimal rounded(int digits) const;
    /// The value as an integer when it has no fractional part and fits, else nullopt.
    std::optional<std::int64_t> to_integer() const;

    friend decimal operator+(const decimal& a, const decimal& b);
    friend decimal operator-(const decimal& a, const decimal& b);
    friend decimal operator*(const decimal& a, const decimal& b);
    decimal& operator+=(const decimal& b) { return *this = *this + b; }
    friend std::strong_ordering operator<=>(const decimal& a, const decimal& b);
    friend bool operator==(const decimal& a, const decimal& b) { return (a <=> b) == 0; }

private:
    decimal(__int128 unscaled, int scale) : unscaled_(unscaled), scale_(scale) {}
    static void align(decimal& a, decimal& b);
    __int128 unscaled_ = 0;
    int scale_ = 0;
};

struct date {
    int year = 1970, month = 1, day = 1;
    auto operator<=>(const date&) const = default;
    std::string to_iso() const;  ///< YYYY-MM-DD
    static date parse_iso(std::string_view text);
};

/// A naive UTC datetime with microseconds.
struct datetime {
    int year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0, microsecond = 0;
    auto operator<=>(const datetime&) const = default;
    /// "YYYY-MM-DD HH:MM:SS.ffffff" (fixed width, so text order is time order).
    std::string to_sql() const;
    /// Accepts "YYYY-MM-DD HH:MM:SS[.f…]" (also with 'T').
    static datetime parse_sql(std::string_view text);
    static datetime now();  ///< UTC
    /// Seconds since the epoch (for age checks).
    std::int64_t epoch_seconds() const;
    static datetime from_epoch_seconds(std::int64_t seconds);
};

/// A time of day with microseconds.
struct time_of_day {
    int hour = 0, minute = 0, second = 0, microsecond = 0;
    auto operator<=>(const time_of_day&) const = default;
};

/// A duration in whole microseconds (exact, unlike the wire's float seconds).
struct timedelta {
    std::int64_t microseconds = 0;
    auto operator<=>(const timedelta&) const = default;
};

// --- JSON (SPEC §8.5) ---
nlohmann::json to_json(const time_of_day& t);
nlohmann::json to_json(const timedelta& d);  ///< {"__class__":"timedelta","seconds":<float>}
time_of_day time_from_json(const nlohmann::json& j);
timedelta timedelta_from_json(const nlohmann::json& j);  ///< rounded to the microsecond
nlohmann::json to_json(const decimal& d);
nlohmann::json to_json(const date& d);
nlohmann::json to_json(const datetime& d);
nlohmann::json bytes_to_json(const std::vector<unsigned char>& bytes);

/// Each accepts its §8.5 object; decimal also accepts a JSON integer or a
/// decimal string, date/datetime also their ISO text. Throws value_error.
decimal decimal_from_json(const nlohmann::json& j);
date date_from_json(const nlohmann::json& j);
datetime datetime_from_json(const nlohmann::json& j);
std::vector<unsigned char> bytes_from_json(const nlohmann::json& j);

std::string base64_encode(const std::vector<unsigned char>& bytes);  ///< MIME lines of 76 + "\n"
std::vector<unsigned char> base64_decode(std::string_view text);     ///< ignores whitespace

}  // namespace atrium::modules
