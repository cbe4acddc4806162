// XML-RPC text ⇄ wire values: what Python's xmlrpc.client (with proteus's
// and trytond's conventions) writes is read back, what we write is what it
// writes, and every malformed or hostile body is refused with a fault code.

#include "server/xmlrpc_values.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

using namespace atrium::server;
using json = nlohmann::json;

namespace {

/// A <methodCall> of test.echo with `params` (each a <value>…</value>).
std::string call_with(const std::string& values) {
    std::string params;
    for (std::size_t start = 0; start < values.size();) {
        const auto end = values.find("</value>\n", start);
        REQUIRE(end != std::string::npos);
        params += "<param>\n" + values.substr(start, end + 9 - start) + "</param>\n";
        start = end + 9;
    }
    return "<?xml version='1.0'?>\n<methodCall>\n<methodName>test.echo</methodName>\n<params>\n" + params +
           "</params>\n</methodCall>\n";
}

json param_of(const std::string& value) { return read_xmlrpc_call(call_with(value + "\n")).params.at(0); }

int refusal_code(const std::string& body) {
    try {
        read_xmlrpc_call(body);
    } catch (const xmlrpc_read_error& e) {
        return e.fault_code();
    }
    return 0;
}

std::string written(const json& value) {
    std::string out;
    write_xmlrpc_value(out, value);
    return out;
}

std::string nested_arrays(std::size_t depth) {
    std::string open, close;
    for (std::size_t i = 0; i < depth; ++i) {
        open += "<value><array><data>";
        close += "</data></array></value>";
    }
    return "<methodCall><methodName>m</methodName><params><param>" + open + close + "</param></params></methodCall>";
}

}  // namespace

TEST_SUITE("xmlrpc") {

TEST_CASE("reads what proteus sends: every type Python writes, trytond's __class__ structs") {
    // Exactly as xmlrpc.client.dumps() writes these values once proteus.config is imported.
    const auto call = read_xmlrpc_call(
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>model.sale.order.create</methodName>\n<params>\n"
        "<param>\n<value><string>text &lt;&amp;&gt;</string></value>\n</param>\n"
        "<param>\n<value><int>7</int></value>\n</param>\n"
        "<param>\n<value><biginteger>1099511627776</biginteger></value>\n</param>\n"
        "<param>\n<value><biginteger>1180591620717411303424</biginteger></value>\n</param>\n"
        "<param>\n<value><boolean>1</boolean></value>\n</param>\n"
        "<param>\n<value><double>1.5</double></value>\n</param>\n"
        "<param>\n<value><nil/></value></param>\n"
        "<param>\n<value><base64>\nAP9ieXRlcw==\n</base64></value>\n</param>\n"
        "<param>\n<value><dateTime.iso8601>20261207T05:06:07</dateTime.iso8601></value>\n</param>\n"
        "<param>\n<value><struct>\n<member>\n<name>__class__</name>\n<value><string>Decimal</string></value>\n"
        "</member>\n<member>\n<name>decimal</name>\n<value><string>9.95</string></value>\n</member>\n"
        "</struct></value>\n</param>\n"
        "<param>\n<value><struct>\n<member>\n<name>key</name>\n<value><array><data>\n<value><int>1</int></value>\n"
        "<value><struct>\n</struct></value>\n</data></array></value>\n</member>\n<member>\n<name>5</name>\n"
        "<value><string>int key</string></value>\n</member>\n</struct></value>\n</param>\n"
        "</params>\n</methodCall>\n");
    CHECK(call.method == "model.sale.order.create");
    REQUIRE(call.params.size() == 11);
    CHECK(call.params[0] == "text <&>");
    CHECK(call.params[1] == 7);
    CHECK(call.params[2] == 1099511627776LL);
    CHECK(call.params[3] == json{{"__class__", "Decimal"}, {"decimal", "1180591620717411303424"}});
    CHECK(call.params[4] == true);
    CHECK(call.params[5] == 1.5);
    CHECK(call.params[6].is_null());
    CHECK(call.params[7]["__class__"] == "bytes");
    CHECK(call.params[8] == json{{"__class__", "datetime"}, {"year", 2026}, {"month", 12}, {"day", 7}, {"hour", 5},
                                 {"minute", 6}, {"second", 7}, {"microsecond", 0}});
    CHECK(call.params[9] == json{{"__class__", "Decimal"}, {"decimal", "9.95"}});
    CHECK(call.params[10] == json{{"key", json::array({1, json::object()})}, {"5", "int key"}});
}

TEST_CASE("reads the other spellings XML-RPC allows") {
    CHECK(param_of("<value>  untyped keeps its blanks </value>") == "  untyped keeps its blanks ");
    CHECK(param_of("<value></value>") == "");
    CHECK(param_of("<value><string> a<![CDATA[<b>]]>c </string></value>") == " a<b>c ");
    CHECK(param_of("<value><i4> -42 </i4></value>") == -42);
    CHECK(param_of("<value><i8>9223372036854775807</i8></value>") == 9223372036854775807LL);
    CHECK(param_of("<value><int>+5</int></value>") == 5);
    CHECK(param_of("<value><double>1e999</double></value>") == json{{"__class__", "Decimal"}, {"decimal", "1e999"}});
    CHECK(param_of("<value><double>nan</double></value>") == json{{"__class__", "Decimal"}, {"decimal", "NaN"}});
    CHECK(param_of("<value><bigdecimal> 1.25 </bigdecimal></value>") == json{{"__class__", "Decimal"}, {"decimal", "1.25"}});
    CHECK(param_of("<value><string>&#13;&#x20AC;&quot;&apos;</string></value>") == "\r\xE2\x82\xAC\"'");
    CHECK(param_of("<value><struct><member><name>a</name><value>1</value></member>"
                   "<member><name>a</name><value>2</value></member></struct></value>") == json{{"a", "2"}});
    const auto no_params = read_xmlrpc_call("<methodCall><methodName>system.listMethods</methodName></methodCall>");
    CHECK(no_params.method == "system.listMethods");
    CHECK(no_params.params == json::array());
    CHECK(read_xmlrpc_call("\xEF\xBB\xBF<?xml version='1.0' encoding='UTF-8'?><methodCall><methodName>m</methodName>"
                           "<params/></methodCall>").method == "m");
}

TEST_CASE("refuses entities: a DOCTYPE (billion laughs, external entities) or an undefined entity") {
    const std::string laughs =
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n"
        "<methodCall><methodName>&lol3;</methodName></methodCall>";
    CHECK(refusal_code(laughs) == xmlrpc_fault_code::invalid_request);
    CHECK(refusal_code("<!DOCTYPE m [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                       "<methodCall><methodName>&x;</methodName></methodCall>") == xmlrpc_fault_code::invalid_request);
    CHECK(refusal_code("<!DOCTYPE methodCall SYSTEM \"http://example.com/x.dtd\">"
                       "<methodCall><methodName>m</methodName></methodCall>") == xmlrpc_fault_code::invalid_request);
    CHECK(refusal_code("<methodCall><methodName>&lol;</methodName></methodCall>") == xmlrpc_fault_code::not_well_formed);
    CHECK(refusal_code("<methodCall><methodName>a & b</methodName></methodCall>") == xmlrpc_fault_code::not_well_formed);
    try {
        read_xmlrpc_call(laughs);
    } catch (const xmlrpc_read_error& e) {
        CHECK(std::string(e.what()) == "a DOCTYPE is not allowed");
    }
}

TEST_CASE("refuses invalid UTF-8 and characters XML forbids, raw or as references") {
    const auto with = [](const std::string& text) {
        return refusal_code("<methodCall><methodName>m" + text + "</methodName></methodCall>");
    };
    for (const std::string& bad : std::vector<std::string>{"\xFF", "\xC0\xAF", "\xED\xA0\x80", "\xE2\x82", "\x80", "\xF5\x80\x80\x80",
                                  std::string(1, '\0'), "\x01", "\xEF\xBF\xBE"}) {
        CHECK(with(bad) == xmlrpc_fault_code::invalid_character);
    }
    for (const std::string bad : {"&#0;", "&#x1;", "&#xD800;", "&#x110000;", "&#99999999999;", "&#;", "&#x;"}) {
        CHECK(with(bad) == xmlrpc_fault_code::invalid_character);
    }
    CHECK(with("&#xZZ;") == xmlrpc_fault_code::not_well_formed);
    CHECK(with("\xC3\xA9\xF0\x9F\x98\x80") == 0);                   // é and an emoji: fine
    CHECK(with("<![CDATA[&#0; is text here]]>") == 0);               // no references in CDATA
    CHECK(with("<!-- &nope; -->") == 0);                             // nor in comments
    CHECK(with("<![CDATA[\x01]]>") == xmlrpc_fault_code::invalid_character);
    CHECK(refusal_code("<?xml version='1.0' encoding='ISO-8859-1'?><methodCall><methodName>m</methodName>"
                       "</methodCall>") == xmlrpc_fault_code::unsupported_encoding);
    CHECK(refusal_code(std::string("<\0m\0", 4)) == xmlrpc_fault_code::invalid_character);  // UTF-16
}

TEST_CASE("nesting: 200 levels pass, 201 and 100k-deep bodies are refused without recursing") {
    CHECK(read_xmlrpc_call(nested_arrays(200)).params.size() == 1);
    CHECK(refusal_code(nested_arrays(201)) == xmlrpc_fault_code::invalid_request);
    CHECK(refusal_code(nested_arrays(100000)) == xmlrpc_fault_code::invalid_request);
    std::string elements;
    for (int i = 0; i < 100000; ++i) elements += "<a>";
    for (int i = 0; i < 100000; ++i) elements += "</a>";
    CHECK(refusal_code("<methodCall><methodName>m</methodName><params><param><value>" + elements +
                       "</value></param></params></methodCall>") == xmlrpc_fault_code::invalid_request);
    std::string structs = "<methodCall><methodName>m</methodName><params><param>";
    for (int i = 0; i < 100000; ++i) structs += "<value><struct><member><name>k</name>";
    CHECK(refusal_code(structs) == xmlrpc_fault_code::not_well_formed);  // unclosed: pugixml says so
}

TEST_CASE("refuses what is not a well-formed XML-RPC call") {
    using namespace xmlrpc_fault_code;
    const std::string head = "<methodCall><methodName>m</methodName><params><param>";
    const std::string tail = "</param></params></methodCall>";
    CHECK(refusal_code("") == invalid_request);
    CHECK(refusal_code("<methodCall><methodName>m</methodName>") == not_well_formed);
    CHECK(refusal_code("junk<methodCall><methodName>m</methodName></methodCall>") == invalid_request);
    CHECK(refusal_code("<methodCall><methodName>m</methodName></methodCall>junk") == invalid_request);
    CHECK(refusal_code("<methodCall><methodName>m</methodName></methodCall><x/>") == invalid_request);
    CHECK(refusal_code("<methodResponse><params/></methodResponse>") == invalid_request);
    CHECK(refusal_code("<methodCall><params/></methodCall>") == invalid_request);
    CHECK(refusal_code("<methodCall><methodName>m</methodName><other/></methodCall>") == invalid_request);
    CHECK(refusal_code(head + "<value><boolean>yes</boolean></value>" + tail) == invalid_request);
    CHECK(refusal_code(head + "<value><int>1.5</int></value>" + tail) == invalid_request);
    CHECK(refusal_code(head + "<value><int></int></value>" + tail) == invalid_request);
    CHECK(refusal_code(head + "<value><double>one</double></value>" + tail) == invalid_request);
    CHECK(refusal_code(head + "<value><dateTime.iso8601>2026-12-07T05:06:07</dateTime.iso8601></value>" + tail) ==
          invalid_request);
    CHECK(refusal_code(head + "<value><int>1</int><int>2</int></value>" + tail) == invalid_request);
    CHECK(refusal_code(head + "<value>text<int>2</int></value>" + tail) == invalid_request);
    CHECK(refusal_code(head + "<value><unknown/></value>" + tail) == invalid_request);
    CHECK(refusal_code(head + "<value><array><value>1</value></array></value>" + tail) == invalid_request);
    CHECK(refusal_code(head + "<value><struct><member><value>1</value></member></struct></value>" + tail) ==
          invalid_request);
    CHECK(refusal_code(head + "<value><nil>x</nil></value>" + tail) == invalid_request);
    CHECK(refusal_code(head + "<value><string><b/></string></value>" + tail) == invalid_request);
}

TEST_CASE("writes what trytond writes") {
    CHECK(written(nullptr) == "<value><nil/></value>");
    CHECK(written(true) == "<value><boolean>1</boolean></value>\n");
    CHECK(written(2147483647) == "<value><int>2147483647</int></value>\n");
    CHECK(written(-2147483648LL) == "<value><int>-2147483648</int></value>\n");
    CHECK(written(2147483648LL) == "<value><biginteger>2147483648</biginteger></value>\n");
    CHECK(written(json(18446744073709551615ULL)) == "<value><biginteger>18446744073709551615</biginteger></value>\n");
    CHECK(written("a<b>&c\r\n\xC3\xA9") == "<value><string>a&lt;b&gt;&amp;c&#13;\n\xC3\xA9</string></value>\n");
    CHECK(written("bad\xFF\x01") == "<value><string>bad\xEF\xBF\xBD\xEF\xBF\xBD</string></value>\n");
    CHECK(written(json{{"__class__", "datetime"}, {"year", 987}, {"month", 1}, {"day", 2}, {"hour", 3}, {"minute", 4},
                       {"second", 5}, {"microsecond", 678}}) ==
          "<value><dateTime.iso8601>09870102T03:04:05</dateTime.iso8601></value>\n");
    CHECK(written(json{{"__class__", "bytes"}, {"base64", "AP9ieXRlcw=="}}) ==
          "<value><base64>\nAP9ieXRlcw==\n</base64></value>\n");
    CHECK(written(json::binary({0x00, 0xff})) == "<value><base64>\nAP8=\n</base64></value>\n");
    CHECK(written(json{{"decimal", "9.95"}, {"__class__", "Decimal"}}) ==
          "<value><struct>\n<member>\n<name>__class__</name>\n<value><string>Decimal</string></value>\n</member>\n"
          "<member>\n<name>decimal</name>\n<value><string>9.95</string></value>\n</member>\n</struct></value>\n");
    CHECK(written(json::array({1, json::object()})) ==
          "<value><array><data>\n<value><int>1</int></value>\n<value><struct>\n</struct></value>\n</data></array></value>\n");
    CHECK(xmlrpc_fault(1, "x <y>") ==
          "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n"
          "<value><int>1</int></value>\n</member>\n<member>\n<name>faultString</name>\n"
          "<value><string>x &lt;y&gt;</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n");
    CHECK(xmlrpc_response("6.0") ==
          "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><string>6.0</string></value>\n"
          "</param>\n</params>\n</methodResponse>\n");
}

TEST_CASE("floats as Python's repr() writes them") {
    const auto text = [](double value) {
        const std::string out = written(value);
        return out.substr(15, out.size() - 15 - 18);  // between <value><double> and </double></value>\n
    };
    CHECK(text(1.5) == "1.5");
    CHECK(text(100.0) == "100.0");
    CHECK(text(0.0) == "0.0");
    CHECK(text(1e16) == "1e+16");
    CHECK(text(1e15) == "1000000000000000.0");
    CHECK(text(0.0001) == "0.0001");
    CHECK(text(1e-05) == "1e-05");
    CHECK(text(123456789012345.6) == "123456789012345.6");
    CHECK(text(-2.5e-300) == "-2.5e-300");
    CHECK(text(0.1) == "0.1");
    CHECK(text(3e100) == "3e+100");
    CHECK(text(5e-324) == "5e-324");
    CHECK(text(1.7976931348623157e308) == "1.7976931348623157e+308");
    CHECK(text(std::numeric_limits<double>::quiet_NaN()) == "nan");
    CHECK(text(-std::numeric_limits<double>::infinity()) == "-inf");
}

TEST_CASE("what we write reads back the same") {
    const json value = json::array({"x&y", 1, 5000000000LL, true, nullptr, 2.25, json::object({{"k", json::array()}}),
                                    json{{"__class__", "Decimal"}, {"decimal", "1.10"}}});
    std::string body = "<methodCall><methodName>m</methodName><params><param>";
    write_xmlrpc_value(body, value);
    body += "</param></params></methodCall>";
    CHECK(read_xmlrpc_call(body).params.at(0) == value);
}

}  // TEST_SUITE
