#include "modules/values.hpp"

#include "transaction/errors.hpp"
#include "util/base64.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>

namespace atrium::modules {

namespace {

constexpr int max_scale = 30;

__int128 pow10(int n) {
    __int128 r = 1;
    while (n-- > 0) r *= 10;
    return r;
}

// Exact or an error: a decimal never wraps around.
__int128 checked_mul(__int128 a, __int128 b) {
    __int128 r;
    if (__builtin_mul_overflow(a, b, &r)) throw value_error("decimal overflow");
    return r;
}
__int128 checked_add(__int128 a, __int128 b) {
    __int128 r;
    if (__builtin_add_overflow(a, b, &r)) throw value_error("decimal overflow");
    return r;
}

int parse_int(std::string_view text, std::size_t pos, std::size_t len, std::string_view what) {
    if (pos + len > text.size()) throw value_error("bad " + std::string(what) + ": " + std::string(text));
    int r = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
        if (text[i] < '0' || text[i] > '9') throw value_error("bad " + std::string(what) + ": " + std::string(text));
        r = r * 10 + (text[i] - '0');
    }
    return r;
}

int days_in_month(int y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return days[m - 1];
}

void check_date(int y, int m, int d) {
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        throw value_error("invalid date " + std::to_string(y) + "-" + std::to_string(m) + "-" + std::to_string(d));
}

int get_int(const nlohmann::json& j, const char* key) {
    if (!j.contains(key) || !j[key].is_number_integer()) throw value_error(std::string("missing or bad '") + key + "'");
    return j[key].get<int>();
}

}  // namespace

// --- decimal ---

decimal decimal::parse(std::string_view text) {
    std::size_t i = 0;
    bool negative = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
    __int128 unscaled = 0;
    int scale = 0, digits = 0;
    bool dot = false;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '.' && !dot) {
            dot = true;
        } else if (c >= '0' && c <= '9') {
            if (++digits > 36) throw value_error("decimal has too many digits: " + std::string(text));
            unscaled = unscaled * 10 + (c - '0');
            if (dot) ++scale;
        } else {
            throw value_error("not a decimal: '" + std::string(text) + "'");
        }
    }
    if (digits == 0 || scale > max_scale) throw value_error("not a decimal: '" + std::string(text) + "'");
    return decimal(negative ? -unscaled : unscaled, scale);
}

std::string decimal::to_string() const {
    __int128 v = unscaled_ < 0 ? -unscaled_ : unscaled_;
    std::string digits;
    do {
        digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
        v /= 10;
    } while (v != 0);
    while (static_cast<int>(digits.size()) <= scale_) digits.insert(digits.begin(), '0');
    if (scale_ > 0) digits.insert(digits.end() - scale_, '.');
    return (unscaled_ < 0 ? "-" : "") + digits;
}

decimal decimal::rounded(int digits) const {
    if (digits >= scale_) {
        return decimal(checked_mul(unscaled_, pow10(digits - scale_)), digits);
    }
    const __int128 div = pow10(scale_ - digits);
    __int128 q = unscaled_ / div, r = unscaled_ % div;
    if (r < 0) r = -r;
    if (r * 2 >= div) q += unscaled_ < 0 ? -1 : 1;
    return decimal(q, digits);
}

std::optional<std::int64_t> decimal::to_integer() const {
    __int128 v = unscaled_;
    for (int i = 0; i < scale_; ++i) {
        if (v % 10 != 0) return std::nullopt;
        v /= 10;
    }
    if (v < std::numeric_limits<std::int64_t>::min() || v > std::numeric_limits<std::int64_t>::max())
        return std::nullopt;
    return static_cast<std::int64_t>(v);
}

void decimal::align(decimal& a, decimal& b) {
    if (a.scale_ < b.scale_) {
        a.unscaled_ = checked_mul(a.unscaled_, pow10(b.scale_ - a.scale_));
        a.scale_ = b.scale_;
    } else if (b.scale_ < a.scale_) {
        b.unscaled_ = checked_mul(b.unscaled_, pow10(a.scale_ - b.scale_));
        b.scale_ = a.scale_;
    }
}

decimal operator+(const decimal& a, const decimal& b) {
    decimal x = a, y = b;
    decimal::align(x, y);
    return decimal(checked_add(x.unscaled_, y.unscaled_), x.scale_);
}
decimal operator-(const decimal& a, const decimal& b) {
    decimal x = a, y = b;
    decimal::align(x, y);
    return decimal(checked_add(x.unscaled_, -y.unscaled_), x.scale_);
}
decimal operator*(const decimal& a, const decimal& b) {
    if (a.scale_ + b.scale_ > max_scale) throw value_error("decimal product too precise");
    return decimal(checked_mul(a.unscaled_, b.unscaled_), a.scale_ + b.scale_);
}
std::strong_ordering operator<=>(const decimal& a, const decimal& b) {
    decimal x = a, y = b;
    decimal::align(x, y);
    return x.unscaled_ < y.unscaled_ ? std::strong_ordering::less
           : x.unscaled_ > y.unscaled_ ? std::strong_ordering::greater
                                       : std::strong_ordering::equal;
}

// --- date / datetime ---

std::string date::to_iso() const {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
    return buf;
}

date date::parse_iso(std::string_view text) {
    if (text.size() < 10 || text[4] != '-' || text[7] != '-') throw value_error("bad date: " + std::string(text));
    date d{parse_int(text, 0, 4, "date"), parse_int(text, 5, 2, "date"), parse_int(text, 8, 2, "date")};
    check_date(d.year, d.month, d.day);
    return d;
}

std::string datetime::to_sql() const {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06d", year, month, day, hour, minute, second,
                  microsecond);
    return buf;
}

datetime datetime::parse_sql(std::string_view text) {
    if (text.size() < 19 || (text[10] != ' ' && text[10] != 'T') || text[13] != ':' || text[16] != ':')
        throw value_error("bad datetime: " + std::string(text));
    const date d = date::parse_iso(text.substr(0, 10));
    datetime r{d.year, d.month, d.day, parse_int(text, 11, 2, "datetime"), parse_int(text, 14, 2, "datetime"),
               parse_int(text, 17, 2, "datetime"), 0};
    if (text.size() > 19) {
        if (text[19] != '.') throw value_error("bad datetime: " + std::string(text));
        std::string frac(text.substr(20));
        if (frac.empty() || frac.size() > 6) throw value_error("bad datetime: " + std::string(text));
        frac.resize(6, '0');
        r.microsecond = parse_int(frac, 0, 6, "datetime");
    }
    if (r.hour > 23 || r.minute > 59 || r.second > 59) throw value_error("bad datetime: " + std::string(text));
    return r;
}

std::int64_t datetime::epoch_seconds() const {
    using namespace std::chrono;
    const auto days = sys_days(year_month_day(std::chrono::year(year), std::chrono::month(month),
                                              std::chrono::day(day)));
    return duration_cast<seconds>(days.time_since_epoch()).count() + hour * 3600 + minute * 60 + second;
}

datetime datetime::from_epoch_seconds(std::int64_t s) {
    using namespace std::chrono;
    const sys_seconds t{seconds(s)};
    const auto days = floor<std::chrono::days>(t);
    const year_month_day ymd(days);
    const hh_mm_ss hms(t - days);
    return datetime{static_cast<int>(ymd.year()), static_cast<int>(static_cast<unsigned>(ymd.month())),
                    static_cast<int>(static_cast<unsigned>(ymd.day())), static_cast<int>(hms.hours().count()),
                    static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()), 0};
}

datetime datetime::now() {
    using namespace std::chrono;
    const auto t = system_clock::now();
    const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
    datetime r = from_epoch_seconds(us / 1000000);
    r.microsecond = static_cast<int>(us % 1000000);
    return r;
}

// --- JSON ---

nlohmann::json to_json(const decimal& d) { return {{"__class__", "Decimal"}, {"decimal", d.to_string()}}; }
nlohmann::json to_json(const date& d) {
    return {{"__class__", "date"}, {"year", d.year}, {"month", d.month}, {"day", d.day}};
}
nlohmann::json to_json(const datetime& d) {
    return {{"__class__", "datetime"}, {"year", d.year},     {"month", d.month},
            {"day", d.day},            {"hour", d.hour},     {"minute", d.minute},
            {"second", d.second},      {"microsecond", d.microsecond}};
}
nlohmann::json bytes_to_json(const std::vector<unsigned char>& bytes) {
    return {{"__class__", "bytes"}, {"base64", base64_encode(bytes)}};
}

nlohmann::json to_json(const time_of_day& t) {
    return {{"__class__", "time"}, {"hour", t.hour}, {"minute", t.minute}, {"second", t.second},
            {"microsecond", t.microsecond}};
}

nlohmann::json to_json(const timedelta& d) {
    return {{"__class__", "timedelta"}, {"seconds", static_cast<double>(d.microseconds) / 1e6}};
}

static bool has_class(const nlohmann::json& j, const char* name) {
    return j.is_object() && j.contains("__class__") && j["__class__"] == name;
}

decimal decimal_from_json(const nlohmann::json& j) {
    if (has_class(j, "Decimal") && j.contains("decimal") && j["decimal"].is_string())
        return decimal::parse(j["decimal"].get<std::string>());
    if (j.is_number_integer()) return decimal(j.get<std::int64_t>());
    if (j.is_string()) return decimal::parse(j.get<std::string>());
    throw value_error("expected a Decimal, got " + j.dump());
}

date date_from_json(const nlohmann::json& j) {
    if (has_class(j, "date")) {
        date d{get_int(j, "year"), get_int(j, "month"), get_int(j, "day")};
        check_date(d.year, d.month, d.day);
        return d;
    }
    if (j.is_string()) return date::parse_iso(j.get<std::string>());
    throw value_error("expected a date, got " + j.dump());
}

datetime datetime_from_json(const nlohmann::json& j) {
    if (has_class(j, "datetime")) {
        datetime d{get_int(j, "year"),   get_int(j, "month"),  get_int(j, "day"),        get_int(j, "hour"),
                   get_int(j, "minute"), get_int(j, "second"), get_int(j, "microsecond")};
        check_date(d.year, d.month, d.day);
        if (d.hour < 0 || d.hour > 23 || d.minute < 0 || d.minute > 59 || d.second < 0 || d.second > 59 ||
            d.microsecond < 0 || d.microsecond > 999999)
            throw value_error("invalid datetime " + j.dump());
        return d;
    }
    if (j.is_string()) return datetime::parse_sql(j.get<std::string>());
    throw value_error("expected a datetime, got " + j.dump());
}

time_of_day time_from_json(const nlohmann::json& j) {
    if (!has_class(j, "time")) throw value_error("expected a time, got " + j.dump());
    time_of_day t{get_int(j, "hour"), get_int(j, "minute"), get_int(j, "second"), get_int(j, "microsecond")};
    if (t.hour < 0 || t.hour > 23 || t.minute < 0 || t.minute > 59 || t.second < 0 || t.second > 59 ||
        t.microsecond < 0 || t.microsecond > 999999)
        throw value_error("invalid time " + j.dump());
    return t;
}

timedelta timedelta_from_json(const nlohmann::json& j) {
    if (!has_class(j, "timedelta") || !j.contains("seconds") || !j["seconds"].is_number())
        throw value_error("expected a timedelta, got " + j.dump());
    const double seconds = j["seconds"].get<double>();
    if (!(seconds > -9.2e12 && seconds < 9.2e12)) throw value_error("timedelta out of range " + j.dump());
    return timedelta{static_cast<std::int64_t>(std::llround(seconds * 1e6))};
}

std::vector<unsigned char> bytes_from_json(const nlohmann::json& j) {
    if (has_class(j, "bytes") && j.contains("base64") && j["base64"].is_string())
        return base64_decode(j["base64"].get<std::string>());
    throw value_error("expected bytes, got " + j.dump());
}

std::string base64_encode(const std::vector<unsigned char>& bytes) {
    return util::base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), true);
}

std::vector<unsigned char> base64_decode(std::string_view text) {
    const auto decoded = util::base64_decode_lenient(text);
    if (!decoded) throw value_error("invalid base64");
    return {decoded->begin(), decoded->end()};
}

}  // namespace atrium::modules
