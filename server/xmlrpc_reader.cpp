// Reading an XML-RPC <methodCall> (xmlrpc_values.hpp): a lexical check of the
// text pugixml does not make (UTF-8, forbidden characters, character
// references), pugixml's parse, then the tree walked into JSON values with the
// nesting checked before each step down.

#include "server/xml_chars.hpp"
#include "server/xmlrpc_values.hpp"

#include <pugixml.hpp>

#include <charconv>
#include <cmath>
#include <limits>

namespace atrium::server {

namespace {

using json = nlohmann::json;
namespace code = xmlrpc_fault_code;

[[noreturn]] void refuse(int fault_code, const std::string& message) { throw xmlrpc_read_error(fault_code, message); }

[[noreturn]] void invalid(const std::string& message) { refuse(code::invalid_request, message); }

bool starts_with(std::string_view text, std::size_t at, std::string_view prefix) {
    return text.substr(at, prefix.size()) == prefix;
}

/// The reference at text[i] (i at '&'): one of XML's five entities (there is
/// no DOCTYPE to define others; pugixml would keep an unknown one as text), or
/// a character XML allows (pugixml would decode &#0; as the end of the string).
void check_reference(std::string_view text, std::size_t i) {
    if (!starts_with(text, i, "&#")) {
        for (const std::string_view entity : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"}) {
            if (starts_with(text, i, entity)) return;
        }
        refuse(code::not_well_formed, "undefined entity or bare '&' at offset " + std::to_string(i));
    }
    std::size_t k = i + 2;
    int base = 10;
    if (k < text.size() && (text[k] == 'x' || text[k] == 'X')) base = 16, ++k;
    std::uint32_t value = 0;
    const std::size_t digits_start = k;
    for (; k < text.size() && text[k] != ';'; ++k) {
        const char c = text[k];
        int digit = -1;
        if (c >= '0' && c <= '9') digit = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f') digit = c - 'a' + 10;
        else if (base == 16 && c >= 'A' && c <= 'F') digit = c - 'A' + 10;
        if (digit < 0) refuse(code::not_well_formed, "malformed character reference at offset " + std::to_string(i));
        value = value * base + static_cast<std::uint32_t>(digit);
        if (value > 0x10FFFF) break;  // no overflow: refused below
    }
    if (k == digits_start || k >= text.size() || !xml_chars::allowed(value)) {
        refuse(code::invalid_character, "character reference not allowed in XML at offset " + std::to_string(i));
    }
}

/// The text as XML 1.0 requires it: valid UTF-8, only allowed characters, raw
/// or as references (CDATA and comments hold no references), and no DOCTYPE
/// (nor any other "<!" markup than CDATA and comments).
void check_text(std::string_view text) {
    std::string_view literal_until;  // "]]>" or "-->" while inside one
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (!literal_until.empty()) {
            if (starts_with(text, i, literal_until)) {
                i += literal_until.size();
                literal_until = {};
                continue;
            }
        } else if (c == '<' && starts_with(text, i, "<![CDATA[")) {
            literal_until = "]]>";
            i += 9;
            continue;
        } else if (c == '<' && starts_with(text, i, "<!--")) {
            literal_until = "-->";
            i += 4;
            continue;
        } else if (c == '<' && starts_with(text, i, "<!")) {
            invalid("a DOCTYPE is not allowed");  // no DTD, so no entity of any kind: refused before parsing
        } else if (c == '&') {
            check_reference(text, i);
        }
        const std::size_t at = i;
        const std::int32_t point = xml_chars::decode_utf8(text, i);
        if (point < 0) refuse(code::invalid_character, "invalid UTF-8 at offset " + std::to_string(at));
        if (!xml_chars::allowed(static_cast<std::uint32_t>(point))) {
            refuse(code::invalid_character, "character not allowed in XML at offset " + std::to_string(at));
        }
    }
}

bool blank(const char* text) {
    for (; *text; ++text) {
        if (*text != ' ' && *text != '\t' && *text != '\n' && *text != '\r') return false;
    }
    return true;
}

bool is_text(const pugi::xml_node& node) {
    return node.type() == pugi::node_pcdata || node.type() == pugi::node_cdata;
}

/// The element children of `node`; text between them must be blank.
template <class Fn>
void for_each_element(const pugi::xml_node& node, Fn&& fn) {
    for (const pugi::xml_node child : node.children()) {
        if (child.type() == pugi::node_element) {
            fn(child);
        } else if (is_text(child) && !blank(child.value())) {
            invalid(std::string("unexpected text in <") + node.name() + ">");
        }
    }
}

/// The one element child of `node` named `name`.
pugi::xml_node only_child(const pugi::xml_node& node, std::string_view name) {
    pugi::xml_node found;
    int count = 0;
    for_each_element(node, [&](const pugi::xml_node& child) {
        if (name != child.name()) invalid(std::string("unexpected <") + child.name() + "> in <" + node.name() + ">");
        found = child;
        ++count;
    });
    if (count != 1) invalid(std::string("<") + node.name() + "> needs exactly one <" + std::string(name) + ">");
    return found;
}

/// The text content of `node` (its text and CDATA pieces joined); no elements.
std::string text_of(const pugi::xml_node& node) {
    std::string text;
    for (const pugi::xml_node child : node.children()) {
        if (is_text(child)) text += child.value();
        else if (child.type() == pugi::node_element) invalid(std::string("unexpected <") + child.name() + "> in <" + node.name() + ">");
    }
    return text;
}

std::string_view trimmed(std::string_view text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return {};
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

json decimal(std::string_view text) { return {{"__class__", "Decimal"}, {"decimal", std::string(text)}}; }

json integer(std::string_view text, const char* type) {
    const std::string_view digits = trimmed(text);
    std::string_view unsigned_part = digits;
    if (!unsigned_part.empty() && (unsigned_part.front() == '-' || unsigned_part.front() == '+')) unsigned_part.remove_prefix(1);
    if (unsigned_part.empty() || unsigned_part.find_first_not_of("0123456789") != std::string_view::npos) {
        invalid(std::string("<") + type + "> holds no integer");
    }
    std::int64_t value = 0;
    const char* begin = digits.data() + (digits.front() == '+' ? 1 : 0);
    const auto [end, ec] = std::from_chars(begin, digits.data() + digits.size(), value);
    if (ec == std::errc() && end == digits.data() + digits.size()) return value;
    return decimal(digits.front() == '+' ? digits.substr(1) : digits);  // beyond 64 bits: every digit kept
}

json floating(std::string_view text) {
    std::string_view number = trimmed(text);
    if (!number.empty() && number.front() == '+') number.remove_prefix(1);
    double value = 0;
    const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || end != number.data() + number.size() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
        invalid("<double> holds no number");
    }
    if (ec == std::errc::result_out_of_range || !std::isfinite(value)) {
        if (std::isnan(value)) return decimal("NaN");
        if (std::isinf(value)) return decimal(value > 0 ? "Infinity" : "-Infinity");
        return decimal(number);  // overflow (or underflow): Decimal keeps the text exactly
    }
    return value;
}

/// "YYYYMMDDTHH:MM:SS", as Python's xmlrpc.client writes and reads it.
json date_time(std::string_view text) {
    static constexpr std::string_view shape = "dddddddd:dd:dd:dd";
    bool ok = text.size() == shape.size() && text[8] == 'T';
    for (std::size_t i = 0; ok && i < text.size(); ++i) {
        if (i == 8) continue;
        ok = shape[i] == ':' ? text[i] == ':' : (text[i] >= '0' && text[i] <= '9');
    }
    if (!ok) invalid("<dateTime.iso8601> must be YYYYMMDDTHH:MM:SS");
    const auto number = [&](std::size_t at, std::size_t length) {
        int value = 0;
        std::from_chars(text.data() + at, text.data() + at + length, value);
        return value;
    };
    return {{"__class__", "datetime"}, {"year", number(0, 4)},  {"month", number(4, 2)},  {"day", number(6, 2)},
            {"hour", number(9, 2)},    {"minute", number(12, 2)}, {"second", number(15, 2)}, {"microsecond", 0}};
}

json read_value(const pugi::xml_node& node, std::size_t depth);

json read_array(const pugi::xml_node& node, std::size_t depth) {
    json out = json::array();
    for_each_element(only_child(node, "data"), [&](const pugi::xml_node& item) {
        if (std::string_view(item.name()) != "value") invalid(std::string("unexpected <") + item.name() + "> in <data>");
        out.push_back(read_value(item, depth + 1));
    });
    return out;
}

json read_struct(const pugi::xml_node& node, std::size_t depth) {
    json out = json::object();
    for_each_element(node, [&](const pugi::xml_node& member) {
        if (std::string_view(member.name()) != "member") invalid(std::string("unexpected <") + member.name() + "> in <struct>");
        pugi::xml_node name, value;
        for_each_element(member, [&](const pugi::xml_node& part) {
            const std::string_view part_name = part.name();
            pugi::xml_node& slot = part_name == "name" ? name : value;
            if ((part_name != "name" && part_name != "value") || slot) invalid("a <member> is one <name> and one <value>");
            slot = part;
        });
        if (!name || !value) invalid("a <member> is one <name> and one <value>");
        out[text_of(name)] = read_value(value, depth + 1);  // a repeated name: the last one wins, as in Python
    });
    return out;
}

/// One <value>. `depth` counts the arrays and structs around it.
json read_value(const pugi::xml_node& node, std::size_t depth) {
    if (depth > max_json_depth) invalid("values nested deeper than " + std::to_string(max_json_depth) + " levels");
    pugi::xml_node typed;
    int elements = 0;
    bool text = false;
    for (const pugi::xml_node child : node.children()) {
        if (child.type() == pugi::node_element) typed = child, ++elements;
        else if (is_text(child) && !blank(child.value())) text = true;
    }
    if (elements == 0) return text_of(node);  // no type: a string, blanks included
    if (elements > 1 || text) invalid("a <value> holds one value");
    const std::string_view type = typed.name();
    if (type == "string") return text_of(typed);
    if (type == "int" || type == "i4" || type == "i8" || type == "i1" || type == "i2" || type == "biginteger") {
        return integer(text_of(typed), typed.name());
    }
    if (type == "boolean") {
        const std::string flag = text_of(typed);
        if (flag != "0" && flag != "1") invalid("<boolean> must be 0 or 1");
        return flag == "1";
    }
    if (type == "double" || type == "float") return floating(text_of(typed));
    if (type == "bigdecimal") return decimal(trimmed(text_of(typed)));
    if (type == "dateTime.iso8601") return date_time(text_of(typed));
    if (type == "base64") return {{"__class__", "bytes"}, {"base64", text_of(typed)}};  // checked with the others
    if (type == "nil") {
        if (typed.first_child()) invalid("<nil/> must be empty");
        return nullptr;
    }
    if (type == "array") return read_array(typed, depth);
    if (type == "struct") return read_struct(typed, depth);
    invalid("unknown value type <" + std::string(type) + ">");
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
    }
    return true;
}

/// The root element, after checking what surrounds it: an optional UTF-8
/// declaration, no DOCTYPE, no text.
pugi::xml_node root_element(const pugi::xml_document& document) {
    pugi::xml_node root;
    for (const pugi::xml_node node : document.children()) {
        switch (node.type()) {
        case pugi::node_declaration: {
            const std::string_view encoding = node.attribute("encoding").value();
            if (!encoding.empty() && !equals_ignore_case(encoding, "utf-8") && !equals_ignore_case(encoding, "utf8") &&
                !equals_ignore_case(encoding, "us-ascii") && !equals_ignore_case(encoding, "ascii")) {
                refuse(code::unsupported_encoding, "unsupported encoding " + std::string(encoding) + " (UTF-8 only)");
            }
            break;
        }
        case pugi::node_doctype:
            invalid("a DOCTYPE is not allowed");
        case pugi::node_element:
            if (root) invalid("more than one root element");
            root = node;
            break;
        default:
            if (is_text(node) && !blank(node.value())) invalid("text outside the root element");
            break;
        }
    }
    if (!root) invalid("no root element");
    return root;
}

}  // namespace

xmlrpc_call read_xmlrpc_call(std::string_view body) {
    check_text(body);
    pugi::xml_document document;
    // parse_fragment keeps text around the root (refused below) instead of
    // dropping it; parse_doctype keeps the DOCTYPE, to be refused.
    const unsigned flags = pugi::parse_default | pugi::parse_ws_pcdata | pugi::parse_declaration |
                           pugi::parse_doctype | pugi::parse_fragment;
    const pugi::xml_parse_result parsed = document.load_buffer(body.data(), body.size(), flags, pugi::encoding_utf8);
    if (!parsed) {
        refuse(code::not_well_formed,
               std::string(parsed.description()) + " at offset " + std::to_string(parsed.offset));
    }
    const pugi::xml_node root = root_element(document);
    if (std::string_view(root.name()) != "methodCall") invalid("the root element must be <methodCall>");
    xmlrpc_call call;
    bool named = false;
    bool with_params = false;
    for_each_element(root, [&](const pugi::xml_node& part) {
        const std::string_view name = part.name();
        if (name == "methodName" && !named) {
            call.method = text_of(part);
            named = true;
        } else if (name == "params" && !with_params) {
            with_params = true;
            for_each_element(part, [&](const pugi::xml_node& param) {
                if (std::string_view(param.name()) != "param") invalid("unexpected <" + std::string(param.name()) + "> in <params>");
                call.params.push_back(read_value(only_child(param, "value"), 1));
            });
        } else {
            invalid("unexpected <" + std::string(name) + "> in <methodCall>");
        }
    });
    if (!named || call.method.empty()) invalid("no <methodName>");
    return call;
}

}  // namespace atrium::server
