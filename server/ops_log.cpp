#include "server/ops_log.hpp"

#include "transaction/logging.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace atrium::server {

namespace {

using json = nlohmann::json;

std::string dump(const json& object) { return object.dump(-1, ' ', false, json::error_handler_t::replace); }

json call_fields(const rpc_request& request, double duration_ms, std::string_view outcome) {
    return json{{"request_id", request.request_id},
                {"database", request.database ? json(*request.database) : json(nullptr)},
                {"user", request.notes.user.empty() ? json(nullptr) : json(request.notes.user)},
                {"method", request.method},
                {"duration_ms", duration_ms},
                {"retries", request.notes.retries},
                {"outcome", outcome}};
}

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

}  // namespace

std::string json_call_line(const rpc_request& request, double duration_ms, std::string_view outcome) {
    json line = call_fields(request, duration_ms, outcome);
    line["event"] = "call";
    return dump(line);
}

std::string slow_call_line(const rpc_request& request, double duration_ms, std::string_view outcome) {
    const auto& n = request.notes;
    const double accounted = ms(n.pool_wait_ns) + ms(n.commit_ns) + ms(n.backoff_ns);
    const double rest = duration_ms > accounted ? duration_ms - accounted : 0.0;
    if (log_json()) {
        json line = call_fields(request, duration_ms, outcome);
        line["event"] = "slow_call";
        line["pool_wait_ms"] = ms(n.pool_wait_ns);
        line["commit_ms"] = ms(n.commit_ns);
        line["backoff_ms"] = ms(n.backoff_ns);
        line["statements_and_code_ms"] = rest;
        return dump(line);
    }
    char text[200];
    std::snprintf(text, sizeof text,
                  " %.1fms: pool wait %.1fms, commit %.1fms, retry back-off %.1fms, statements and code %.1fms",
                  duration_ms, ms(n.pool_wait_ns), ms(n.commit_ns), ms(n.backoff_ns), rest);
    std::string line = "slow call " + request.request_id + " " + request.method.substr(0, 200) + " db=" +
                       (request.database ? *request.database : std::string("-"));
    line += text;
    if (n.retries > 0) line += " retries=" + std::to_string(n.retries);
    return line;
}

}  // namespace atrium::server
