#include "modules/model.hpp"
#include "modules/model_parts.hpp"


#include "modules/access.hpp"
#include "modules/dialect.hpp"
#include "modules/domain.hpp"
#include "modules/errors.hpp"
#include "modules/field_access.hpp"
#include "modules/registry.hpp"
#include "transaction/errors.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace atrium::modules {

using namespace model_detail;

namespace {

// Any number with an integral value fits an integer field, as Tryton's
// int(value) does: a JSON integer, an integral float, an integral Decimal.
std::optional<std::int64_t> integral_value(const nlohmann::json& v) {
    if (v.is_number_unsigned()) {
        if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return std::nullopt;
        return static_cast<std::int64_t>(v.get<std::uint64_t>());
    }
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_float()) {
        const double d = v.get<double>();
        // 2^63 is exactly representable; the int64 range is [-2^63, 2^63).
        if (!std::isfinite(d) || std::trunc(d) != d || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return std::nullopt;
        return static_cast<std::int64_t>(d);
    }
    if (v.is_object()) return decimal_from_json(v).to_integer();  // value_error if not a Decimal
    return std::nullopt;
}

}  // namespace

// --- conversion ---

db::value to_db(const db::connection& conn, const field& f, const nlohmann::json& v) {
    if (v.is_null() || (f.type != field_type::boolean && v.is_boolean() && !v.get<bool>())) return nullptr;
    auto bad = [&](const std::string& why = {}) -> db::value {
        throw user_error("The value " + v.dump() + " is not valid for the field \"" + f.string + "\"" +
                         (why.empty() ? "" : ": " + why) + ".");
    };
    try {
        switch (f.type) {
        case field_type::boolean:
            if (v.is_boolean()) return sql::boolean_param(conn, v.get<bool>());
            if (v.is_number_integer()) return sql::boolean_param(conn, v.get<std::int64_t>() != 0);
            return bad();
        case field_type::integer:
        case field_type::many2one:
            if (auto i = integral_value(v)) return *i;
            if (v.is_number() || v.is_object()) return bad("not an integer");
            return bad();
        case field_type::float_:
            if (v.is_number()) return v.get<double>();
            return bad();
        case field_type::numeric: {
            if (v.is_number_float()) return bad("use a Decimal, not a binary float");
            decimal d = decimal_from_json(v);
            if (f.digits >= 0) d = d.rounded(f.digits);
            return d.to_string();
        }
        case field_type::char_:
        case field_type::text:
            if (v.is_string()) return v.get<std::string>();
            return bad();
        case field_type::selection: {
            if (!v.is_string()) return bad();
            const auto s = v.get<std::string>();
            for (const auto& [key, _] : f.selection)
                if (key == s) return s;
            return bad("not one of the choices");
        }
        case field_type::date: return date_from_json(v).to_iso();
        case field_type::datetime: return datetime_from_json(v).to_sql();
        case field_type::binary: return db::blob{bytes_from_json(v)};
        case field_type::one2many:
        case field_type::many2many: break;
        }
    } catch (const value_error& e) {
        return bad(e.what());
    }
    throw std::logic_error("x2many field has no column");
}

nlohmann::json from_db(const field& f, const db::value& v) {
    if (db::is_null(v)) return f.type == field_type::boolean ? nlohmann::json(false) : nlohmann::json(nullptr);
    switch (f.type) {
    case field_type::boolean:
        if (auto* i = std::get_if<std::int64_t>(&v)) return *i != 0;
        return std::get<std::string>(v) == "t" || std::get<std::string>(v) == "true";
    case field_type::integer:
    case field_type::many2one:
        if (auto* i = std::get_if<std::int64_t>(&v)) return *i;
        return std::stoll(std::get<std::string>(v));
    case field_type::float_:
        if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
        if (auto* d = std::get_if<double>(&v)) return *d;
        return std::stod(std::get<std::string>(v));
    case field_type::numeric:
        if (auto* i = std::get_if<std::int64_t>(&v)) return to_json(decimal(*i));
        return to_json(decimal::parse(std::get<std::string>(v)));
    case field_type::date: return to_json(date::parse_iso(std::get<std::string>(v)));
    case field_type::datetime: return to_json(datetime::parse_sql(std::get<std::string>(v)));
    case field_type::binary:
        if (auto* b = std::get_if<db::blob>(&v)) return bytes_to_json(b->bytes);
        return bytes_to_json({std::get<std::string>(v).begin(), std::get<std::string>(v).end()});
    default:
        if (auto* s = std::get_if<std::string>(&v)) return *s;
        if (auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
        return nullptr;
    }
}

// --- record ---

const nlohmann::json& record::raw(const std::string& name) const {
    if (!values_.contains(name)) throw key_error("field '" + name + "' was not read");
    return values_[name];
}
bool record::is_null(const std::string& name) const { return raw(name).is_null(); }

template <>
bool record::get<bool>(const std::string& n) const { return raw(n).is_boolean() && raw(n).get<bool>(); }
template <>
std::int64_t record::get<std::int64_t>(const std::string& n) const {
    if (!raw(n).is_number_integer()) throw value_error("field '" + n + "' is not set");
    return raw(n).get<std::int64_t>();
}
template <>
int record::get<int>(const std::string& n) const { return static_cast<int>(get<std::int64_t>(n)); }
template <>
double record::get<double>(const std::string& n) const {
    if (!raw(n).is_number()) throw value_error("field '" + n + "' is not set");
    return raw(n).get<double>();
}
template <>
std::string record::get<std::string>(const std::string& n) const {
    if (!raw(n).is_string()) throw value_error("field '" + n + "' is not set");
    return raw(n).get<std::string>();
}
template <>
decimal record::get<decimal>(const std::string& n) const { return decimal_from_json(raw(n)); }
template <>
date record::get<date>(const std::string& n) const { return date_from_json(raw(n)); }
template <>
datetime record::get<datetime>(const std::string& n) const { return datetime_from_json(raw(n)); }
template <>
std::vector<unsigned char> record::get<std::vector<unsigned char>>(const std::string& n) const {
    return bytes_from_json(raw(n));
}
template <>
ids record::get<ids>(const std::string& n) const { return raw(n).get<ids>(); }

}  // namespace atrium::modules
