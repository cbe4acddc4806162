// The XML-RPC codec without HTTP: trytond's fault codes and strings, HTTP
// answers, logging, and no call for a body that cannot be read.

#include "server/xmlrpc_codec.hpp"
#include "server/xmlrpc_values.hpp"
#include "server/rpc_handler.hpp"
#include "tests/support/test_handler.hpp"

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

using namespace atrium::server;
using json = nlohmann::json;

namespace {

struct codec_fixture {
    builtin_handler builtin{"9.8.7"};
    atrium::test::test_handler handler{builtin};
    std::vector<rpc_call_record> calls;
    codec_options options;
    rpc_call_context context;

    codec_fixture() {
        options.log_call = [this](const rpc_call_record& record) { calls.push_back(record); };
        context.request_id = "r1";
    }
    rpc_http_reply call(const std::string& method, const std::string& params = "") {
        return handle_xmlrpc("<?xml version='1.0'?>\n<methodCall>\n<methodName>" + method +
                                 "</methodName>\n<params>\n" + params + "</params>\n</methodCall>\n",
                             context, handler, options);
    }
    rpc_http_reply raise(const std::string& kind) {
        return call("test.raise", "<param><value><string>" + kind + "</string></value></param>");
    }
};

/// The (faultCode, faultString) of a fault reply, read back with our reader
/// (a fault struct is a value like any other).
std::pair<int, std::string> fault_of(const rpc_http_reply& reply) {
    REQUIRE(reply.status == 200);
    REQUIRE(reply.content_type == "text/xml");
    const auto start = reply.body.find("<fault>\n");
    REQUIRE(start != std::string::npos);
    const auto end = reply.body.find("</fault>");
    const std::string value = reply.body.substr(start + 8, end - start - 8);
    const auto fault = read_xmlrpc_call("<methodCall><methodName>f</methodName><params><param>" + value +
                                        "</param></params></methodCall>")
                           .params.at(0);
    return {fault.at("faultCode").get<int>(), fault.at("faultString").get<std::string>()};
}

/// The result of a success reply.
json result_of(const rpc_http_reply& reply) {
    REQUIRE(reply.status == 200);
    REQUIRE(reply.content_type == "text/xml");
    const std::string head = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n";
    REQUIRE(reply.body.rfind(head, 0) == 0);
    const auto end = reply.body.rfind("</param>");
    return read_xmlrpc_call("<methodCall><methodName>f</methodName><params><param>" +
                            reply.body.substr(head.size(), end - head.size()) + "</param></params></methodCall>")
        .params.at(0);
}

}  // namespace

TEST_SUITE("xmlrpc") {

TEST_CASE("the Content-Type picks the codec as trytond does") {
    CHECK(is_xmlrpc_content_type("text/xml"));
    CHECK(is_xmlrpc_content_type("text/xml; charset=utf-8"));
    CHECK(is_xmlrpc_content_type("application/xml"));
    CHECK(is_xmlrpc_content_type("Text/XML"));
    CHECK_FALSE(is_xmlrpc_content_type("application/json"));
    CHECK_FALSE(is_xmlrpc_content_type("application/json; note=xml"));  // "json" is looked for first
    CHECK_FALSE(is_xmlrpc_content_type(""));
    CHECK_FALSE(is_xmlrpc_content_type("text/plain"));
}

TEST_CASE("a call: the result as a methodResponse, the call logged, Tryton's dialect rules") {
    codec_fixture f;
    auto reply = f.call("common.server.version");
    CHECK(reply.body ==
          "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><string>9.8.7</string></value>\n"
          "</param>\n</params>\n</methodResponse>\n");
    REQUIRE(f.calls.size() == 1);
    CHECK(f.calls[0].outcome == "ok");
    CHECK(f.calls[0].method == "common.server.version");

    f.context.database = "db1";
    const json info = result_of(f.call("test.info"));
    CHECK(info["database"] == "db1");
    CHECK(info["dialect"] == "tryton_envelope");  // authentication before method lookup, as in trytond
    CHECK(info["request_id"] == "r1");

    const json echoed = result_of(f.call(
        "test.echo", "<param><value><struct><member><name>when</name><value><dateTime.iso8601>20260102T03:04:05"
                     "</dateTime.iso8601></value></member><member><name>price</name><value><struct><member><name>"
                     "__class__</name><value>Decimal</value></member><member><name>decimal</name><value>1.50</value>"
                     "</member></struct></value></member><member><name>none</name><value><nil/></value></member>"
                     "</struct></value></param>"));
    CHECK(echoed == json{{"when",
                          {{"__class__", "datetime"}, {"year", 2026}, {"month", 1}, {"day", 2}, {"hour", 3},
                           {"minute", 4}, {"second", 5}, {"microsecond", 0}}},
                         {"price", {{"__class__", "Decimal"}, {"decimal", "1.50"}}},
                         {"none", nullptr}});

    reply = f.call("test.cached", "<param><value><int>60</int></value></param>");
    CHECK(reply.headers == std::vector<std::pair<std::string, std::string>>{{"X-Tryton-Cache", "60"}});
}

TEST_CASE("Tryton errors: trytond's fault codes and str(exception)") {
    codec_fixture f;
    CHECK(fault_of(f.raise("user_error")) == std::pair<int, std::string>{1, "Bad value - The value is wrong"});
    CHECK(fault_of(f.raise("access_error")) == std::pair<int, std::string>{1, "Access denied - Not yours"});
    CHECK(fault_of(f.raise("user_warning")) == std::pair<int, std::string>{2, "Careful - Really?"});
    CHECK(fault_of(f.raise("login_exception")) ==
          std::pair<int, std::string>{3, "('LoginException', ('password', 'Password', 'password'))"});
    CHECK(fault_of(f.raise("concurrency_exception")) == std::pair<int, std::string>{4, "Record modified"});
    CHECK(fault_of(f.raise("value_error")) == std::pair<int, std::string>{255, "Duplicate ids"});
    REQUIRE(f.calls.size() == 6);
    CHECK(f.calls[0].outcome == "UserError");
    CHECK(f.calls[3].outcome == "LoginException");
    CHECK(f.calls[5].outcome == "invalid params");
}

TEST_CASE("an internal error says nothing of itself, unless --dev") {
    codec_fixture f;
    const auto [code, text] = fault_of(f.raise("internal"));
    CHECK(code == 255);
    CHECK(text == "Internal error (request r1)");
    CHECK(f.calls.at(0).outcome == "internal error");
    f.options.dev = true;
    CHECK(fault_of(f.raise("internal")).second.find("SELECT secret") != std::string::npos);
}

TEST_CASE("HTTP-level answers stay HTTP answers; an unknown method is 403 under a database, a fault on /") {
    codec_fixture f;
    auto reply = f.raise("http_401");
    CHECK(reply.status == 401);
    CHECK(reply.content_type.rfind("text/plain", 0) == 0);
    CHECK(reply.headers == std::vector<std::pair<std::string, std::string>>{{"WWW-Authenticate", "Basic realm=\"Tryton\""},
                                                                             {"Retry-After", "7"}});
    CHECK(f.raise("http_503").status == 503);
    CHECK(f.raise("rate_limit").status == 429);
    CHECK(fault_of(f.call("no.such.method")) == std::pair<int, std::string>{255, "'no.such.method'"});
    f.context.database = "db1";
    CHECK(f.call("no.such.method").status == 403);
}

TEST_CASE("a body that cannot be read: a fault, and no call") {
    codec_fixture f;
    const auto refused = [&](const std::string& body) {
        return fault_of(handle_xmlrpc(body, f.context, f.handler, f.options));
    };
    auto [code, text] = refused("<!DOCTYPE x [<!ENTITY a \"b\">]><methodCall><methodName>&a;</methodName></methodCall>");
    CHECK(code == xmlrpc_fault_code::invalid_request);
    CHECK(text == "Unable to read XML request: a DOCTYPE is not allowed");
    std::tie(code, text) = refused("<methodCall><methodName>\xFF</methodName></methodCall>");
    CHECK(code == xmlrpc_fault_code::invalid_character);
    CHECK(text == "Unable to read XML request: invalid UTF-8 at offset 24");
    std::tie(code, text) = refused("<methodCall><methodName>test.echo</methodName><params><param><value><base64>!!"
                                   "</base64></value></param></params></methodCall>");
    CHECK(code == xmlrpc_fault_code::invalid_params);
    CHECK(text == "Unable to read XML request: invalid bytes value: \"base64\" is not valid base64");
    std::tie(code, text) = refused("<methodCall><methodName>test.echo</methodName><params><param><value><struct>"
                                   "<member><name>__class__</name><value>date</value></member><member><name>year"
                                   "</name><value><int>2026</int></value></member></struct></value></param></params>"
                                   "</methodCall>");
    CHECK(code == xmlrpc_fault_code::invalid_params);
    CHECK(refused("not xml at all").first == xmlrpc_fault_code::invalid_request);
    CHECK(f.calls.empty());
}

TEST_CASE("mutated bodies never crash the codec: every reply is an HTTP answer or XML we can read back") {
    codec_fixture f;
    const std::vector<std::string> seeds{
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>test.echo</methodName>\n<params>\n<param>\n<value><array>"
        "<data>\n<value><string>a &amp; b</string></value>\n<value><int>7</int></value>\n<value><nil/></value>"
        "</data></array></value>\n</param>\n</params>\n</methodCall>\n",
        "<methodCall><methodName>test.echo</methodName><params><param><value><struct><member><name>__class__</name>"
        "<value>Decimal</value></member><member><name>decimal</name><value>1.5</value></member></struct></value>"
        "</param></params></methodCall>",
        "<methodCall><methodName>test.echo</methodName><params><param><value><base64>aGk=</base64></value></param>"
        "<param><value><dateTime.iso8601>20200101T00:00:00</dateTime.iso8601></value></param></params></methodCall>",
    };
    const std::string alphabet = std::string("<>/&#;![]-=?'\"x0123456789 \r\n\x80\xff\xc3\xa9") + '\0' + "valuestructCDATA";
    std::mt19937 random(4242);
    for (int i = 0; i < 3000; ++i) {
        std::string body = seeds[random() % seeds.size()];
        const int edits = 1 + static_cast<int>(random() % 4);
        for (int e = 0; e < edits; ++e) {
            const std::size_t at = random() % (body.size() + 1);
            switch (random() % 3) {
            case 0:
                body.insert(at, 1, alphabet[random() % alphabet.size()]);
                break;
            case 1:
                if (at < body.size()) body.erase(at, 1);
                break;
            default:
                if (at < body.size()) body[at] = alphabet[random() % alphabet.size()];
                break;
            }
        }
        rpc_http_reply reply;
        REQUIRE_NOTHROW(reply = handle_xmlrpc(body, f.context, f.handler, f.options));
        REQUIRE(reply.status == 200);  // on "/" even an unknown method is a fault
        if (reply.body.find("<fault>") != std::string::npos) {
            CHECK(fault_of(reply).first != 0);
        } else {
            CHECK_NOTHROW(result_of(reply));
        }
    }
}

}  // TEST_SUITE
