#include "server/jsonrpc_values.hpp"

#include "util/base64.hpp"

#include <cctype>
#include <cmath>
#include <string>

namespace atrium::server {

namespace {

using json = nlohmann::json;

/// A SAX consumer that builds the DOM through nlohmann's own builder and
/// adds the depth cap and the big-number rule.
class wire_sax {
public:
    explicit wire_sax(json& root) : builder_(root, true) {}

    bool null() { return builder_.null(); }
    bool boolean(bool value) { return builder_.boolean(value); }
    bool number_integer(json::number_integer_t value) { return builder_.number_integer(value); }
    bool number_unsigned(json::number_unsigned_t value) { return builder_.number_unsigned(value); }
    bool number_float(json::number_float_t value, const json::string_t& text) {
        const bool integral = text.find_first_of(".eE") == std::string::npos;
        if (integral || !std::isfinite(value)) {
            // Beyond 64 bits, or beyond double: keep every digit as a Decimal.
            return builder_.start_object(2) && add_key("__class__") && string_value("Decimal") && add_key("decimal") &&
                   string_value(text) && builder_.end_object();
        }
        return builder_.number_float(value, text);
    }
    bool string(json::string_t& value) { return builder_.string(value); }
    bool binary(json::binary_t& value) { return builder_.binary(value); }
    bool start_object(std::size_t size) { return deeper() && builder_.start_object(size); }
    bool key(json::string_t& value) { return builder_.key(value); }
    bool end_object() {
        --depth_;
        return builder_.end_object();
    }
    bool start_array(std::size_t size) { return deeper() && builder_.start_array(size); }
    bool end_array() {
        --depth_;
        return builder_.end_array();
    }
    bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& error) {
        return builder_.parse_error(position, token, error);
    }

private:
    bool deeper() {
        if (++depth_ > max_json_depth) {
            throw json_read_error("JSON nested deeper than " + std::to_string(max_json_depth) + " levels");
        }
        return true;
    }
    bool add_key(const char* text) {
        json::string_t value(text);
        return builder_.key(value);
    }
    bool string_value(const std::string& text) {
        json::string_t value(text);
        return builder_.string(value);
    }

    nlohmann::detail::json_sax_dom_parser<json> builder_;
    std::size_t depth_ = 0;
};

[[noreturn]] void bad(const std::string& class_name, const std::string& message) {
    throw special_value_error("invalid " + class_name + " value: " + message);
}

long long integer_field(const json& object, const std::string& class_name, const char* name, long long min, long long max) {
    const auto it = object.find(name);
    if (it == object.end()) bad(class_name, std::string("missing \"") + name + "\"");
    if (!it->is_number_integer()) bad(class_name, std::string("\"") + name + "\" must be an integer");
    const long long value = it->get<long long>();
    if (value < min || value > max) {
        bad(class_name, std::string("\"") + name + "\" out of range (" + std::to_string(min) + ".." +
                            std::to_string(max) + ")");
    }
    return value;
}

bool leap(long long year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

void check_date(const json& object, const std::string& class_name) {
    const auto year = integer_field(object, class_name, "year", 1, 9999);
    const auto month = integer_field(object, class_name, "month", 1, 12);
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const int last = days[month - 1] + (month == 2 && leap(year) ? 1 : 0);
    integer_field(object, class_name, "day", 1, last);
}

void check_time(const json& object, const std::string& class_name) {
    integer_field(object, class_name, "hour", 0, 23);
    integer_field(object, class_name, "minute", 0, 59);
    integer_field(object, class_name, "second", 0, 59);
    integer_field(object, class_name, "microsecond", 0, 999999);
}

void check_special(json& object) {
    const auto& class_value = object["__class__"];
    if (!class_value.is_string()) return;  // not ours: a plain map
    const std::string class_name = class_value.get<std::string>();
    if (class_name == "datetime") {
        check_date(object, class_name);
        check_time(object, class_name);
    } else if (class_name == "date") {
        check_date(object, class_name);
    } else if (class_name == "time") {
        check_time(object, class_name);
    } else if (class_name == "timedelta") {
        const auto it = object.find("seconds");
        if (it == object.end() || !it->is_number()) bad(class_name, "\"seconds\" must be a number");
        if (it->is_number_float() && !std::isfinite(it->get<double>())) bad(class_name, "\"seconds\" must be finite");
    } else if (class_name == "Decimal") {
        const auto it = object.find("decimal");
        if (it == object.end() || !it->is_string()) bad(class_name, "\"decimal\" must be a string");
        if (!valid_decimal_text(it->get_ref<const std::string&>())) {
            bad(class_name, "\"" + it->get<std::string>() + "\" is not a decimal number");
        }
    } else if (class_name == "bytes") {
        const auto it = object.find("base64");
        if (it == object.end() || !it->is_string()) bad(class_name, "\"base64\" must be a string");
        if (!util::base64_decode(it->get_ref<const std::string&>())) bad(class_name, "\"base64\" is not valid base64");
        std::string compact;
        for (const char c : it->get_ref<const std::string&>()) {
            if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
        }
        *it = std::move(compact);
    }
}

bool all_digits(std::string_view text) {
    if (text.empty()) return false;
    for (const char c : text) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    }
    return true;
}

}  // namespace

json read_json(std::string_view text) {
    json root;
    wire_sax sax(root);
    try {
        json::sax_parse(text.begin(), text.end(), &sax, nlohmann::detail::input_format_t::json, true);
    } catch (const json::exception& e) {
        throw json_read_error(e.what());
    }
    return root;
}

bool valid_decimal_text(std::string_view text) {
    std::string_view rest = text;
    if (!rest.empty() && (rest.front() == '+' || rest.front() == '-')) rest.remove_prefix(1);
    if (equals_ignore_case(rest, "nan") || equals_ignore_case(rest, "snan") || equals_ignore_case(rest, "inf") ||
        equals_ignore_case(rest, "infinity")) {
        return true;
    }
    std::string_view exponent;
    if (const auto e = rest.find_first_of("eE"); e != std::string_view::npos) {
        exponent = rest.substr(e + 1);
        rest = rest.substr(0, e);
        if (!exponent.empty() && (exponent.front() == '+' || exponent.front() == '-')) exponent.remove_prefix(1);
        if (!all_digits(exponent)) return false;
    }
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos) return all_digits(rest);
    const auto whole = rest.substr(0, dot);
    const auto fraction = rest.substr(dot + 1);
    if (whole.empty() && fraction.empty()) return false;
    return (whole.empty() || all_digits(whole)) && (fraction.empty() || all_digits(fraction));
}

void validate_special_values(json& value) {
    if (value.is_array()) {
        for (auto& item : value) validate_special_values(item);
    } else if (value.is_object()) {
        for (auto& [key, item] : value.items()) validate_special_values(item);
        if (value.contains("__class__")) check_special(value);
    }
}

void encode_special_values(json& value) {
    switch (value.type()) {
    case json::value_t::array:
        for (auto& item : value) encode_special_values(item);
        break;
    case json::value_t::object: {
        for (auto& [key, item] : value.items()) encode_special_values(item);
        const auto class_it = value.find("__class__");
        if (class_it != value.end() && *class_it == "bytes") {
            const auto data = value.find("base64");
            if (data != value.end() && data->is_string()) {
                if (const auto raw = util::base64_decode(data->get_ref<const std::string&>())) {
                    *data = util::base64_encode(*raw, true);
                }
            }
        }
        break;
    }
    case json::value_t::number_float: {
        const double number = value.get<double>();
        if (std::isnan(number)) {
            value = {{"__class__", "Decimal"}, {"decimal", "NaN"}};
        } else if (std::isinf(number)) {
            value = {{"__class__", "Decimal"}, {"decimal", number > 0 ? "Infinity" : "-Infinity"}};
        }
        break;
    }
    case json::value_t::binary: {
        const auto& bytes = value.get_binary();
        const std::string raw(bytes.begin(), bytes.end());
        value = {{"__class__", "bytes"}, {"base64", util::base64_encode(raw, true)}};
        break;
    }
    default:
        break;
    }
}

std::string dump_ascii(const json& value) {
    std::string out;
    dump_ascii_to(out, value);
    return out;
}

void dump_ascii_to(std::string& out, const json& value) {
    // What basic_json::dump(-1, ' ', true, replace) does, into `out`.
    nlohmann::detail::serializer<json> serializer(nlohmann::detail::output_adapter<char, std::string>(out), ' ',
                                                  json::error_handler_t::replace);
    serializer.dump(value, false, true, 0);
}

void dump_ascii_object_to(std::string& out, std::initializer_list<std::pair<std::string_view, const json*>> members) {
    // One serializer for all members; it writes straight into `out` (no
    // buffering between dump() calls), so the punctuation can go in between.
    nlohmann::detail::serializer<json> serializer(nlohmann::detail::output_adapter<char, std::string>(out), ' ',
                                                  json::error_handler_t::replace);
    out.push_back('{');
    bool first = true;
    for (const auto& [key, value] : members) {
        if (!first) out.push_back(',');
        first = false;
        out.push_back('"');
        out.append(key);
        out.append("\":");
        serializer.dump(*value, false, true, 0);
    }
    out.push_back('}');
}

}  // namespace atrium::server
