#include "database/postgresql/pg_connection_parts.hpp"

#include "util/hex.hpp"

#include <pqxx/except>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace atrium::db {

using pg_detail::throw_misuse;

namespace {

// Column type oids (pg_type.dat).
constexpr unsigned k_bool_oid = 16;
constexpr unsigned k_bytea_oid = 17;
constexpr unsigned k_int8_oid = 20;
constexpr unsigned k_int2_oid = 21;
constexpr unsigned k_int4_oid = 23;
constexpr unsigned k_float4_oid = 700;
constexpr unsigned k_float8_oid = 701;

}  // namespace

// ---------------------------------------------------------------------------
// Values

std::string pg_connection::literal(const value& v) {
    require_usable("");
    return std::visit(
        [&](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
                return "NULL";
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                // In parentheses when negative: "x-?" must not read "x--1" (a
                // comment). The smallest int64 has no positive int8 literal.
                if (x == std::numeric_limits<std::int64_t>::min()) return "'" + std::to_string(x) + "'::int8";
                return x < 0 ? "(" + std::to_string(x) + ")" : std::to_string(x);
            } else if constexpr (std::is_same_v<T, double>) {
                if (std::isnan(x)) return "'NaN'::float8";
                if (std::isinf(x)) return x > 0 ? "'Infinity'::float8" : "'-Infinity'::float8";
                char buffer[64];
                // Shortest text that reads back as the same double.
                const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, x);
                if (ec != std::errc{}) throw std::logic_error("cannot format a double");
                return "'" + std::string(buffer, end) + "'::float8";
            } else if constexpr (std::is_same_v<T, std::string>) {
                if (x.find('\0') != std::string::npos) {
                    throw_misuse("a text parameter contains a NUL byte, which PostgreSQL text "
                                 "cannot hold (use a blob)",
                                 "", "22021");
                }
                try {
                    return h_->conn->quote(x);
                } catch (const pqxx::argument_error& error) {
                    // PQescapeStringConn refuses invalid multibyte sequences.
                    throw_misuse(std::string("a text parameter is not valid in the connection "
                                             "encoding: ") +
                                     error.what(),
                                 "", "22021");
                }
            } else {
                static const unsigned char none = 0;
                return h_->conn->quote_raw(x.bytes.empty() ? &none : x.bytes.data(), x.bytes.size());
            }
        },
        v);
}

std::string pg_connection::quote_name(std::string_view name) {
    require_usable("");
    return h_->conn->quote_name(std::string(name));
}

result pg_detail::convert_result(const PGresult* raw, bool reads) {
    result out;
    const int columns = PQnfields(raw);
    out.columns.reserve(static_cast<std::size_t>(columns));
    std::vector<Oid> types(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) {
        out.columns.emplace_back(PQfname(raw, c));
        types[static_cast<std::size_t>(c)] = PQftype(raw, c);
    }
    const int rows = PQntuples(raw);
    out.rows.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) {
        row values;
        values.reserve(static_cast<std::size_t>(columns));
        for (int c = 0; c < columns; ++c) {
            if (PQgetisnull(raw, i, c)) {
                values.emplace_back(nullptr);
                continue;
            }
            const char* s = PQgetvalue(raw, i, c);
            const std::size_t n = static_cast<std::size_t>(PQgetlength(raw, i, c));
            switch (types[static_cast<std::size_t>(c)]) {
            case k_int2_oid:
            case k_int4_oid:
            case k_int8_oid: {
                std::int64_t number = 0;
                const auto [end, ec] = std::from_chars(s, s + n, number);
                if (ec == std::errc{} && end == s + n) values.emplace_back(number);
                else values.emplace_back(std::string(s, n));
                break;
            }
            case k_float4_oid:
            case k_float8_oid: {
                double number = 0;
                const auto [end, ec] = std::from_chars(s, s + n, number);
                if (ec == std::errc{} && end == s + n) values.emplace_back(number);
                else values.emplace_back(std::string(s, n));
                break;
            }
            case k_bool_oid:
                values.emplace_back(static_cast<std::int64_t>(n > 0 && s[0] == 't' ? 1 : 0));
                break;
            case k_bytea_oid: {
                blob b;
                if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
                    b.bytes.reserve((n - 2) / 2);
                    for (std::size_t k = 2; k + 1 < n; k += 2) {
                        b.bytes.push_back(
                            static_cast<unsigned char>(util::hex_value(s[k]) * 16 + util::hex_value(s[k + 1])));
                    }
                } else {
                    // bytea_output = escape
                    std::size_t length = 0;
                    unsigned char* bytes = PQunescapeBytea(reinterpret_cast<const unsigned char*>(s), &length);
                    if (!bytes) throw std::bad_alloc();
                    b.bytes.assign(bytes, bytes + length);
                    PQfreemem(bytes);
                }
                values.emplace_back(std::move(b));
                break;
            }
            default:
                values.emplace_back(std::string(s, n));
                break;
            }
        }
        out.rows.push_back(std::move(values));
    }
    if (!reads) {
        const char* count = PQcmdTuples(const_cast<PGresult*>(raw));
        std::from_chars(count, count + std::strlen(count), out.affected_rows);
    }
    return out;
}

}  // namespace atrium::db
