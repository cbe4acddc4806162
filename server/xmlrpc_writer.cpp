// Writing XML-RPC (xmlrpc_values.hpp) the way trytond 6.0 does through
// Python's xmlrpc.client Marshaller: the same elements, the same line breaks.

#include "server/xml_chars.hpp"
#include "server/xmlrpc_values.hpp"

#include "util/base64.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <type_traits>

namespace atrium::server {

namespace {

using json = nlohmann::json;

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

/// Character data: &, <, > escaped; CR as a reference (a raw one would read
/// back as LF); invalid UTF-8 and characters XML cannot carry as U+FFFD.
void append_escaped(std::string& out, std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c == '&') out.append("&amp;"), ++i;
        else if (c == '<') out.append("&lt;"), ++i;
        else if (c == '>') out.append("&gt;"), ++i;
        else if (c == '\r') out.append("&#13;"), ++i;
        else {
            const std::size_t start = i;
            const std::int32_t point = xml_chars::decode_utf8(text, i);
            if (point < 0) {
                out.append(replacement);
                ++i;
            } else if (!xml_chars::allowed(static_cast<std::uint32_t>(point))) {
                out.append(replacement);
            } else {
                out.append(text.substr(start, i - start));
            }
        }
    }
}

/// Python's repr() of a float: the shortest digits that read back the same,
/// positional from 1e-4 up to 1e16, scientific outside, ".0" on integers.
void append_python_float(std::string& out, double value) {
    if (std::isnan(value)) {
        out.append("nan");
        return;
    }
    if (std::isinf(value)) {
        out.append(value > 0 ? "inf" : "-inf");
        return;
    }
    char buffer[64];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
    if (ec != std::errc()) {
        out.append(std::to_string(value));
        return;
    }
    std::string_view text(buffer, static_cast<std::size_t>(end - buffer));
    bool negative = false;
    if (text.front() == '-') negative = true, text.remove_prefix(1);
    const auto e = text.find('e');
    std::string digits;
    for (const char c : text.substr(0, e)) {
        if (c != '.') digits.push_back(c);
    }
    int exponent = 0;
    std::string_view exponent_text = text.substr(e + 1);
    if (exponent_text.front() == '+') exponent_text.remove_prefix(1);
    std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    if (negative) out.push_back('-');
    if (exponent >= -4 && exponent < 16) {
        if (exponent < 0) {
            out.append("0.").append(static_cast<std::size_t>(-exponent - 1), '0').append(digits);
        } else if (digits.size() <= static_cast<std::size_t>(exponent) + 1) {
            out.append(digits).append(static_cast<std::size_t>(exponent) + 1 - digits.size(), '0').append(".0");
        } else {
            out.append(digits, 0, static_cast<std::size_t>(exponent) + 1).push_back('.');
            out.append(digits, static_cast<std::size_t>(exponent) + 1);
        }
        return;
    }
    out.push_back(digits[0]);
    if (digits.size() > 1) out.append(".").append(digits, 1);
    char exponent_buffer[16];
    std::snprintf(exponent_buffer, sizeof exponent_buffer, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out.append(exponent_buffer);
}

template <class Integer>
void append_integer(std::string& out, Integer value) {
    // Python's Marshaller refuses <int> beyond 32 bits; trytond writes those as <biginteger>.
    bool fits = value <= static_cast<Integer>(std::numeric_limits<std::int32_t>::max());
    if constexpr (std::is_signed_v<Integer>) fits = fits && value >= std::numeric_limits<std::int32_t>::min();
    const char* tag = fits ? "int" : "biginteger";
    out.append("<value><").append(tag).push_back('>');
    out.append(std::to_string(value));
    out.append("</").append(tag).append("></value>\n");
}

void append_two(std::string& out, long long value) {
    if (value < 10) out.push_back('0');
    out.append(std::to_string(value));
}

/// A datetime object, as Python writes datetime.datetime: whole seconds.
bool append_datetime(std::string& out, const json& value) {
    static constexpr const char* fields[] = {"year", "month", "day", "hour", "minute", "second"};
    long long parts[6] = {};
    for (int k = 0; k < 6; ++k) {
        const auto it = value.find(fields[k]);
        if (it == value.end() || !it->is_number_integer()) return false;
        parts[k] = it->get<long long>();
        if (parts[k] < 0 || parts[k] > (k == 0 ? 9999 : 99)) return false;
    }
    char year[8];
    std::snprintf(year, sizeof year, "%04lld", parts[0]);
    out.append("<value><dateTime.iso8601>").append(year);
    append_two(out, parts[1]);
    append_two(out, parts[2]);
    out.push_back('T');
    append_two(out, parts[3]);
    out.push_back(':');
    append_two(out, parts[4]);
    out.push_back(':');
    append_two(out, parts[5]);
    out.append("</dateTime.iso8601></value>\n");
    return true;
}

void append_base64(std::string& out, std::string_view raw) {
    out.append("<value><base64>\n").append(util::base64_encode(raw, true)).append("</base64></value>\n");
}

void append_member(std::string& out, std::string_view name, const json& value) {
    out.append("<member>\n<name>");
    append_escaped(out, name);
    out.append("</name>\n");
    write_xmlrpc_value(out, value);
    out.append("</member>\n");
}

void append_object(std::string& out, const json& value) {
    const auto class_it = value.find("__class__");
    if (class_it != value.end() && class_it->is_string()) {
        const std::string& name = class_it->get_ref<const std::string&>();
        if (name == "datetime" && append_datetime(out, value)) return;
        if (name == "bytes") {
            const auto data = value.find("base64");
            if (data != value.end() && data->is_string()) {
                if (const auto raw = util::base64_decode(data->get_ref<const std::string&>())) {
                    append_base64(out, *raw);
                    return;
                }
            }
        }
    }
    // Decimal, date, time, timedelta and plain maps: a struct, __class__ first as trytond writes it.
    out.append("<value><struct>\n");
    if (class_it != value.end()) append_member(out, "__class__", *class_it);
    for (const auto& [key, item] : value.items()) {
        if (key != "__class__") append_member(out, key, item);
    }
    out.append("</struct></value>\n");
}

}  // namespace

void write_xmlrpc_value(std::string& out, const json& value) {
    switch (value.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
        out.append("<value><nil/></value>");  // no line break: Python's Marshaller writes none
        break;
    case json::value_t::boolean:
        out.append(value.get<bool>() ? "<value><boolean>1</boolean></value>\n" : "<value><boolean>0</boolean></value>\n");
        break;
    case json::value_t::number_integer:
        append_integer(out, value.get<std::int64_t>());
        break;
    case json::value_t::number_unsigned:
        append_integer(out, value.get<std::uint64_t>());
        break;
    case json::value_t::number_float:
        out.append("<value><double>");
        append_python_float(out, value.get<double>());
        out.append("</double></value>\n");
        break;
    case json::value_t::string:
        out.append("<value><string>");
        append_escaped(out, value.get_ref<const std::string&>());
        out.append("</string></value>\n");
        break;
    case json::value_t::binary: {
        const auto& bytes = value.get_binary();
        append_base64(out, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        break;
    }
    case json::value_t::array:
        out.append("<value><array><data>\n");
        for (const auto& item : value) write_xmlrpc_value(out, item);
        out.append("</data></array></value>\n");
        break;
    case json::value_t::object:
        append_object(out, value);
        break;
    }
}

std::string xmlrpc_response(const json& value) {
    std::string out = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n";
    write_xmlrpc_value(out, value);
    out.append("</param>\n</params>\n</methodResponse>\n");
    return out;
}

std::string xmlrpc_fault(int code, std::string_view text) {
    std::string out = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n";
    append_member(out, "faultCode", json(code));
    append_member(out, "faultString", json(std::string(text)));
    out.append("</struct></value>\n</fault>\n</methodResponse>\n");
    return out;
}

}  // namespace atrium::server
