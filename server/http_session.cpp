#include "server/http_session.hpp"

#include "server/bus_route.hpp"
#include "server/call_deadline.hpp"
#include "server/disconnect_watch.hpp"
#include "server/gzip.hpp"
#include "server/http_rules.hpp"
#include "server/idle_sweep.hpp"
#include "server/static_http.hpp"
#include "server/ops_metrics.hpp"
#include "server/ops_routes.hpp"
#include "server/worker_pool.hpp"
#include "server/xmlrpc_codec.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"

#include <boost/asio/spawn.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <chrono>
#include <optional>

namespace atrium::server {

namespace http = beast::http;

namespace {

constexpr unsigned char tls_handshake_record = 0x16;

/// Request bodies inflating to more than this continue on the worker pool
/// (milliseconds of CPU each): the io thread's other connections go on.
constexpr std::size_t inflate_step = 256 * 1024;

/// The request headers the transport reads, found in one pass over the
/// fields: each is the first field of its name, as basic_fields::operator[]
/// answers (empty when absent). Views into the request.
class request_headers {
public:
    enum name : unsigned {
        authorization,
        host,
        origin,
        x_requested_with,
        user_agent,
        access_control_request_method,
        access_control_request_headers,
        content_encoding,
        expect,
        content_type,
        accept_encoding,
        x_atrium_timeout,
        count
    };

    template <class Fields>
    explicit request_headers(const Fields& fields) {
        for (const auto& field : fields) {
            switch (field.name()) {
            case http::field::authorization: keep(authorization, field.value()); break;
            case http::field::host: keep(host, field.value()); break;
            case http::field::origin: keep(origin, field.value()); break;
            case http::field::user_agent: keep(user_agent, field.value()); break;
            case http::field::access_control_request_method: keep(access_control_request_method, field.value()); break;
            case http::field::access_control_request_headers:
                keep(access_control_request_headers, field.value());
                break;
            case http::field::content_encoding: keep(content_encoding, field.value()); break;
            case http::field::expect: keep(expect, field.value()); break;
            case http::field::content_type: keep(content_type, field.value()); break;
            case http::field::accept_encoding: keep(accept_encoding, field.value()); break;
            default:
                if (beast::iequals(field.name_string(), "X-Requested-With")) keep(x_requested_with, field.value());
                else if (beast::iequals(field.name_string(), timeout_header_name)) keep(x_atrium_timeout, field.value());
                break;
            }
        }
    }

    std::string_view get(name which) const { return values_[which]; }

private:
    void keep(name which, std::string_view value) {
        if (seen_ & (1u << which)) return;
        seen_ |= 1u << which;
        values_[which] = value;
    }

    std::array<std::string_view, count> values_{};
    unsigned seen_ = 0;
};

}  // namespace

/// One connection: requests answered in order until close, error or timeout.
void http_session::serve(tcp::socket socket, connection_control& control) {
    const fiber::fiber_yield& yield = *fiber::current_yield();
    beast::tcp_stream stream(std::move(socket));
    control.stream = &stream;
    const std::string& remote_address = control.address;
    shared.debug("connection from " + remote_address);
    read_buffer buffer;
    bool first = true;
    for (;;) {
        if (buffer.size() == 0) {
            // The probes' own listener still answers a new connection's request (/readyz: 503).
            if (shared.draining.load() && !(first && control.ops_only)) break;
            if (!wait_for_request(stream, buffer, control, first, yield)) break;
        }
        if (first && static_cast<const unsigned char*>(buffer.data().data())[0] == tls_handshake_record) {
            shared.debug("TLS ClientHello on the plain port from " + remote_address + ": closed");
            break;
        }
        first = false;
        if (!serve_one(stream, buffer, control, yield)) break;
    }
    if (control.evicted) {
        stream.close();  // a cap chose it: nothing to answer, nothing to wait for
    } else {
        linger_close(stream, yield);
    }
}

/// Waits (the buffer empty) for the next request's first bytes, within the
/// header timeout (first request) or the keep-alive timeout; false: close.
/// Idle for idle_trim_delay, the connection drops its buffer and the stack
/// pages request handling touched, then waits on with a 1-byte read.
bool http_session::wait_for_request(beast::tcp_stream& stream, read_buffer& buffer, connection_control& control,
                      bool first, const fiber::fiber_yield& yield) {
    const auto timeout = std::chrono::seconds(first ? shared.cfg.web.header_timeout : shared.cfg.web.keepalive_timeout);
    boost::system::error_code ec;
    control.idle = true;
    control.trim_requested = false;
    control.wait_begins();
    if (timeout > idle_trim_delay) control.idles->link(control);
    stream.expires_after(timeout);
    std::size_t n = stream.async_read_some(buffer.prepare(4096), yield[ec]);
    control.idles->unlink(control);
    if (!ec) {
        control.idle = false;
        buffer.commit(n);
        return true;
    }
    // The sweeper's cancel (any other error or cancel closes).
    if (ec != asio::error::operation_aborted || !control.trim_requested || control.evicted || shared.draining.load()) {
        return false;
    }
    const auto left = control.idle_since + timeout - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return false;
    buffer.shrink_to_fit();
    fiber::release_unused_fiber_stack();
    char first_byte = 0;
    stream.expires_after(left);
    n = stream.async_read_some(asio::buffer(&first_byte, 1), yield[ec]);
    control.idle = false;
    if (ec) return false;
    *static_cast<char*>(buffer.prepare(4096).data()) = first_byte;
    buffer.commit(n);
    return true;
}

/// Closing with unread request bytes would reset the connection, and the
/// client could lose the error response just sent (413, 415…): send FIN,
/// then discard what the client still sends, for a second at most.
void http_session::linger_close(beast::tcp_stream& stream, const fiber::fiber_yield& yield) {
    boost::system::error_code ec;
    if (!stream.socket().is_open()) return;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (!ec) {
        std::array<char, 16384> scratch;
        std::size_t discarded = 0;
        stream.expires_after(std::chrono::seconds(1));
        while (discarded < 16 * 1024 * 1024) {
            discarded += stream.async_read_some(asio::buffer(scratch), yield[ec]);
            if (ec) break;
        }
    }
    stream.close();
}

/// Reads, handles and answers one request; false: close the connection.
bool http_session::serve_one(beast::tcp_stream& stream, read_buffer& buffer, connection_control& control,
               const fiber::fiber_yield& yield) {
    const std::string& remote_address = control.address;
    boost::system::error_code ec;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(shared.cfg.web.max_header_size));
    // Beast checks Content-Length against the body limit while parsing the
    // header (default 1 MB); ours depends on the headers: decided below.
    parser.body_limit(boost::none);
    stream.expires_after(std::chrono::seconds(shared.cfg.web.header_timeout));
    http::async_read_header(stream, buffer, parser, yield[ec]);
    control.wait_ends();
    if (control.evicted) return false;
    if (ec == http::error::header_limit) {
        write_plain(stream, 11, 431, "Request header fields too large", {}, false, yield);
        return false;
    }
    if (ec == beast::error::timeout) {
        shared.debug("header timeout from " + remote_address);
        return false;
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset) return false;
    if (ec) {
        write_plain(stream, 11, 400, "Bad request", {}, false, yield);
        return false;
    }
    auto& request = parser.get();
    const unsigned version = request.version();
    const request_headers headers(request);
    rpc_http_info info;
    info.authorization = std::string(headers.get(request_headers::authorization));
    info.host = std::string(headers.get(request_headers::host));
    info.origin = std::string(headers.get(request_headers::origin));
    info.x_requested_with = std::string(headers.get(request_headers::x_requested_with));
    info.user_agent = std::string(headers.get(request_headers::user_agent));
    info.remote_address = remote_address;
    bool keep_alive = request.keep_alive() && !shared.draining.load();
    const bool has_body = request.has_content_length() || request.chunked();
    const std::string request_id = "r" + std::to_string(++shared.request_counter);

    std::vector<std::pair<std::string, std::string>> cors_headers;
    if (!origin_allowed(info.origin, info.host, shared.cfg.web.cors)) {
        shared.debug(request_id + " origin refused: " + info.origin);
        ops::count_rejection(ops::rejection::origin);
        write_plain(stream, version, 403, "Origin not allowed", {}, false, yield);
        return false;
    }
    if (!info.origin.empty()) {
        cors_headers.emplace_back("Access-Control-Allow-Origin", info.origin);
        cors_headers.emplace_back("Vary", "Origin");
        if (auto m = headers.get(request_headers::access_control_request_method); !m.empty()) {
            cors_headers.emplace_back("Access-Control-Allow-Methods", std::string(m));
        }
        if (auto h = headers.get(request_headers::access_control_request_headers); !h.empty()) {
            cors_headers.emplace_back("Access-Control-Allow-Headers", std::string(h));
        }
        cors_headers.emplace_back("Access-Control-Max-Age", std::to_string(shared.cfg.web.cache_timeout));
    }
    // GET /metrics, /livez, /readyz (and anything on web.metrics_listen): server/ops_routes.hpp.
    if (auto ops = ops_reply(shared, control, request.method(), request.target())) {
        return write_reply(stream, version, *ops, {}, keep_alive && !has_body, false, request_id, yield);
    }
    if (request.method() == http::verb::options) {
        rpc_http_reply reply;
        reply.status = 204;
        reply.content_type.clear();
        // A body we do not read would be taken for the next request.
        return write_reply(stream, version, reply, cors_headers, keep_alive && !has_body, false, request_id, yield);
    }
    if (serves_static(shared, request.method())) {  // the web client (web.root)
        return serve_static(shared, stream, request, cors_headers, keep_alive && !has_body, request_id, yield);
    }
    if (request.method() != http::verb::post) {
        auto reply = plain_http_reply(405, "Method not allowed");
        reply.headers.emplace_back("Allow", shared.statics.enabled() ? "GET, HEAD, POST, OPTIONS" : "POST, OPTIONS");
        return write_reply(stream, version, reply, cors_headers, false, false, request_id, yield);
    }
    const auto route = match_route(request.target());
    if (!route) {
        return write_reply(stream, version, plain_http_reply(404, "Not found"), cors_headers, false, false, request_id,
                           yield);
    }
    if (route->bus && !shared.bus) {  // bus.enabled = false: 501 tells the Tryton client to stop polling
        return write_reply(stream, version, plain_http_reply(501, "Not implemented: no bus"), cors_headers, false,
                           false, request_id, yield);
    }
    const auto length = parser.content_length();
    if (!length) {
        return write_reply(stream, version, plain_http_reply(411, "Length required"), cors_headers, false, false,
                           request_id, yield);
    }
    const std::string encoding = header_token(headers.get(request_headers::content_encoding));
    const bool gzipped = encoding == "gzip" || encoding == "x-gzip";
    if (!encoding.empty() && encoding != "identity" && !gzipped) {
        return write_reply(stream, version, plain_http_reply(415, "Unsupported media type"), cors_headers, false,
                           false, request_id, yield);
    }
    // The large limit and gzip only for credentials the handler verified
    // (a forged Session header must not open them), asked only when they
    // matter, before any of the body is read.
    bool authenticated = false;
    if (gzipped || *length > shared.cfg.request.max_size) {
        std::optional<rpc_http_reply> refusal;
        try {
            authenticated = shared.handler.authenticated_for_limits(route->database, info);
        } catch (const http_error& error) {
            refusal = plain_http_reply(error.status(), error.what(), info, error.retry_after_seconds());
        } catch (const std::exception& error) {
            log_error(request_id + " credentials check failed: " + error.what());
            refusal = plain_http_reply(500, "Internal error", info);
        }
        if (refusal) return write_reply(stream, version, *refusal, cors_headers, false, false, request_id, yield);
    }
    const std::uint64_t limit = authenticated ? shared.cfg.request.max_size_authenticated : shared.cfg.request.max_size;
    if (gzipped && !authenticated) {
        return write_reply(stream, version, plain_http_reply(415, "Unsupported media type"), cors_headers, false,
                           false, request_id, yield);
    }
    if (*length > limit) {
        return write_reply(stream, version, plain_http_reply(413, "Request entity too large"), cors_headers, false,
                           false, request_id, yield);
    }
    parser.body_limit(limit);
    stream.expires_after(std::chrono::seconds(shared.cfg.web.request_timeout));
    if (version == 11 && header_token(headers.get(request_headers::expect)) == "100-continue") {
        // curl and others wait for this before sending a large body.
        http::response<http::empty_body> go_on{http::status::continue_, version};
        http::async_write(stream, go_on, yield[ec]);
        if (ec) return false;
    }
    http::async_read(stream, buffer, parser, yield[ec]);
    if (ec == http::error::body_limit) {
        write_reply(stream, version, plain_http_reply(413, "Request entity too large"), cors_headers, false, false,
                    request_id, yield);
        return false;
    }
    if (ec) return false;
    stream.expires_never();  // the call itself may take long; the client waits
    std::string body = std::move(request.body());
    if (gzipped) {
        // Stopped the moment the output passes the limit (a bomb never
        // gets further than the cap). A first step here; what is left of a
        // large body on the worker pool, where its CPU time and page
        // faults stall none of this thread's other connections.
        std::string inflated;
        gzip_inflater inflater(body, limit);
        std::optional<inflate_status> status = inflater.step(inflated, inflate_step);
        if (!status) {
            run_blocking([&] {
                while (!(status = inflater.step(inflated, inflate_step))) {
                }
            });
        }
        std::string().swap(body);
        switch (*status) {
        case inflate_status::ok:
            body = std::move(inflated);
            break;
        case inflate_status::too_large:
            return write_reply(stream, version, plain_http_reply(413, "Request entity too large"), cors_headers,
                               false, false, request_id, yield);
        case inflate_status::invalid:
            return write_reply(stream, version, plain_http_reply(400, "Invalid gzip body"), cors_headers, false,
                               false, request_id, yield);
        }
    }
    // The call's deadline (issue 20): counted from here, lowered by the client's header.
    info.received = std::chrono::steady_clock::now();
    if (const auto asked = headers.get(request_headers::x_atrium_timeout); !asked.empty()) {
        info.timeout = parse_timeout_header(asked);
        if (!info.timeout) {
            return write_reply(stream, version,
                               plain_http_reply(400, "Bad X-Atrium-Timeout header: expected seconds, a number > 0"),
                               cors_headers, false, false, request_id, yield);
        }
    }
    info.cancel = std::make_shared<db::cancellation>();
    rpc_call_context context;
    context.database = route->database;
    context.http = std::move(info);
    context.request_id = request_id;
    // Every transaction of the call obeys them (the dispatcher may set a method's own).
    call_limits_scope limits(
        {call_deadline(context.http.received, std::chrono::seconds(shared.cfg.web.call_timeout), context.http.timeout),
         context.http.cancel});
    std::optional<disconnect_watch> client_gone(std::in_place, stream.socket(), context.http.cancel);
    // A bus client may stay parked for minutes: its read buffer's pages go back meanwhile.
    if (route->bus && buffer.size() == 0) buffer.shrink_to_fit();
    // The Content-Type picks the codec, as trytond's does: XML-RPC (proteus) or JSON-RPC.
    const auto content_type = headers.get(request_headers::content_type);
    const auto reply = route->bus ? bus_reply(shared, *shared.bus, context, body)  // waits, parked (issue 22)
                       : is_xmlrpc_content_type(content_type)
                           ? handle_xmlrpc(body, context, shared.handler, shared.codec)
                           : handle_jsonrpc(body, content_type, context, shared.handler, shared.codec);
    client_gone.reset();
    const bool gzip_reply = accepts_gzip(headers.get(request_headers::accept_encoding));
    keep_alive = keep_alive && !shared.draining.load();
    return write_reply(stream, version, reply, cors_headers, keep_alive, gzip_reply, request_id, yield);
}

void http_session::write_plain(beast::tcp_stream& stream, unsigned version, int status, std::string_view message,
                 const rpc_http_info& info, bool keep_alive, const fiber::fiber_yield& yield) {
    write_reply(stream, version, plain_http_reply(status, message, info), {}, keep_alive, false,
                "r" + std::to_string(++shared.request_counter), yield);
}

}  // namespace atrium::server
