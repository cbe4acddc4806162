#pragma once
/// @file
/// @brief XML-RPC text ⇄ the wire's JSON values, in Tryton's dialect (what
/// trytond 6.0's protocols/xmlrpc.py and proteus read and write): dateTime.iso8601
/// ⇄ datetime (whole seconds), base64 ⇄ bytes, `<nil/>` ⇄ None, integers
/// beyond 32 bits as `<biginteger>`, and Decimal, date, time, timedelta as
/// structs with a `__class__` member, the same objects JSON carries (SPEC §8.5).
///
/// Reading is done by pugixml, strictly: UTF-8 only, no DOCTYPE (so no entity
/// can ever be defined, let alone expanded), no character XML 1.0 forbids
/// (raw or as a reference), one root element, nesting capped at max_json_depth
/// values, before any value is built (the conversion's recursion is bounded by it).

#include "server/jsonrpc_values.hpp"
#include "util/error.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace atrium::server {

/// Fault codes of the XML-RPC "specification for fault code interoperability",
/// for requests that never became a call (trytond has none of its own for them).
namespace xmlrpc_fault_code {
inline constexpr int not_well_formed = -32700;
inline constexpr int unsupported_encoding = -32701;
inline constexpr int invalid_character = -32702;
inline constexpr int invalid_request = -32600;
inline constexpr int invalid_params = -32602;
}  // namespace xmlrpc_fault_code

/// The body is not an XML-RPC call we accept; `fault_code()` says why.
class xmlrpc_read_error : public error {
public:
    xmlrpc_read_error(int fault_code, const std::string& message)
        : error(message, error_category::other), fault_code_(fault_code) {}
    int fault_code() const noexcept { return fault_code_; }

private:
    int fault_code_;
};

/// A decoded `<methodCall>`.
struct xmlrpc_call {
    std::string method;
    nlohmann::json params = nlohmann::json::array();
};

/// Parses a `<methodCall>` body. Values come out as the JSON codec's do
/// (special values as their `__class__` objects, not yet validated: the
/// caller runs validate_special_values). Throws xmlrpc_read_error.
xmlrpc_call read_xmlrpc_call(std::string_view body);

/// Appends `<value>…</value>` for `value` (see the file comment). Strings are
/// UTF-8 with &, <, > escaped; invalid UTF-8 and characters XML cannot carry
/// become U+FFFD. NaN and infinities are doubles as Python writes them.
void write_xmlrpc_value(std::string& out, const nlohmann::json& value);

/// A whole `<methodResponse>` carrying `value`.
std::string xmlrpc_response(const nlohmann::json& value);

/// A whole `<methodResponse>` carrying the fault {faultCode, faultString}.
std::string xmlrpc_fault(int code, std::string_view text);

}  // namespace atrium::server
