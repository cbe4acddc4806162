#include "server/bus_route.hpp"
// Fiber path: the catch (...) lets a fiber's forced_unwind through first
// (fiber::rethrow_if_unwinding()).

#include "fiber/unwind.hpp"
#include "server/bus_service.hpp"
#include "transaction/logging.hpp"

#include <algorithm>
#include <chrono>

namespace atrium::server {

namespace {

constexpr std::size_t max_channels = 64;
constexpr std::size_t max_channel_length = 200;

rpc_http_reply json_reply(const nlohmann::json& value) {
    rpc_http_reply reply;
    reply.body = value.dump();
    reply.headers.emplace_back("Cache-Control", "no-store");
    return reply;
}

// last_message: the id a previous answer carried (an integer, or its text); null otherwise.
std::optional<std::int64_t> last_message_of(const nlohmann::json& value) {
    if (value.is_number_integer()) return value.get<std::int64_t>();
    if (value.is_string()) {
        try {
            std::size_t used = 0;
            const auto text = value.get<std::string>();
            const auto id = std::stoll(text, &used);
            if (used == text.size()) return id;
        } catch (const std::exception&) {
        }
    }
    return std::nullopt;  // unknown shape (a trytond uuid): only new ones
}

}  // namespace

std::vector<std::string> bus_channels(const nlohmann::json& asked, std::int64_t user) {
    std::vector<std::string> channels{"user:" + std::to_string(user)};
    for (const auto& item : asked) {
        if (channels.size() > max_channels) break;
        if (!item.is_string()) continue;
        const auto& name = item.get_ref<const std::string&>();
        if (name.rfind("client:", 0) != 0 || name.size() > max_channel_length) continue;
        if (std::find(channels.begin(), channels.end(), name) == channels.end()) channels.push_back(name);
    }
    return channels;
}

rpc_http_reply bus_reply(http_shared& shared, bus_service& bus, const rpc_call_context& context,
                         const std::string& body) {
    const auto started = std::chrono::steady_clock::now();
    std::string outcome = "ok";
    std::string user;
    const auto finish = [&](rpc_http_reply reply) {
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        rpc_request logged;
        logged.database = context.database;
        logged.method = "bus";
        logged.request_id = context.request_id;
        logged.notes.user = user;
        auto options = shared.codec;
        options.slow_call_ms = 0;  // waiting is what it is for
        log_finished_call(logged, options, ms, outcome);
        return reply;
    };
    bus_subscriber subscriber;
    try {
        subscriber = shared.handler.subscriber_for_bus(*context.database, context.http);
    } catch (const http_error& error) {
        outcome = "HTTP " + std::to_string(error.status());
        return finish(plain_http_reply(error.status(), error.what(), context.http, error.retry_after_seconds()));
    } catch (...) {
        fiber::rethrow_if_unwinding();
        log_error(context.request_id + " bus: credentials check failed: " + fiber::describe(std::current_exception()));
        outcome = "internal error";
        return finish(plain_http_reply(500, "Internal error", context.http));
    }
    user = std::to_string(subscriber.user);
    const auto request = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!request.is_object() || (request.contains("channels") && !request["channels"].is_array())) {
        outcome = "HTTP 400";
        return finish(plain_http_reply(400, "Bad request: expected {\"last_message\": …, \"channels\": […]}"));
    }
    const auto channels = bus_channels(request.value("channels", nlohmann::json::array()), subscriber.user);
    const auto last = last_message_of(request.value("last_message", nlohmann::json()));
    shared.debug(context.request_id + " bus: user " + user + " waits on " + std::to_string(channels.size()) +
                 " channel(s) after " + (last ? std::to_string(*last) : std::string("now")));
    try {
        return finish(json_reply(bus.subscribe(subscriber.database, channels, last, context.http.cancel)));
    } catch (...) {
        fiber::rethrow_if_unwinding();
        log_error(context.request_id + " bus: " + fiber::describe(std::current_exception()));
        outcome = "internal error";
        return finish(plain_http_reply(500, "Internal error", context.http));
    }
}

}  // namespace atrium::server
