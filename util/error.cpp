#include "util/error.hpp"

namespace atrium {

std::string_view to_string(error_category category) {
    switch (category) {
    case error_category::retryable: return "retryable";
    case error_category::in_doubt: return "in_doubt";
    case error_category::integrity: return "integrity";
    case error_category::programming: return "programming";
    case error_category::timeout: return "timeout";
    case error_category::unavailable: return "unavailable";
    case error_category::other: return "other";
    case error_category::needs_fix: return "needs_fix";
    case error_category::transient: return "transient";
    case error_category::invalid_argument: return "invalid_argument";
    case error_category::user: return "user";
    case error_category::user_warning: return "user_warning";
    case error_category::access: return "access";
    case error_category::login: return "login";
    case error_category::concurrency: return "concurrency";
    case error_category::rate_limited: return "rate_limited";
    case error_category::http: return "http";
    case error_category::not_found: return "not_found";
    }
    return "unknown";
}

wire_shape default_wire_shape(error_category category) {
    // SPEC §8.4: the Tryton name, the JSON-RPC 2.0 code, the bare-mode status.
    switch (category) {
    case error_category::user: return {"UserError", -32001, 400};
    case error_category::access: return {"AccessError", -32005, 400};
    case error_category::user_warning: return {"UserWarning", -32002, 409};
    case error_category::login: return {"LoginException", -32003, 403};
    case error_category::concurrency: return {"ConcurrencyException", -32004, 423};
    case error_category::rate_limited: return {"RateLimitException", -32029, 429};
    case error_category::timeout: return {"", -32008, 408};
    case error_category::http: return {"", -32000, 500};
    case error_category::not_found: return {"", -32601, 500};
    case error_category::invalid_argument: return {"", -32602, 500};
    default: return {"", -32603, 500};  // an internal error
    }
}

wire_shape error::wire() const { return default_wire_shape(category_); }

nlohmann::json error::payload() const { return nlohmann::json::array({what(), ""}); }

}  // namespace atrium
