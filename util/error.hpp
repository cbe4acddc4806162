#pragma once
// The root of every Atrium error. Each error says what kind of failure it is
// (`category()`, the one thing the retry loop and the dispatcher decide on) and
// how the transport answers it (`wire()`, `payload()`), so the JSON-RPC codec
// needs one catch clause, not one per class.

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace atrium {

enum class error_category {
    // Reported by the database (db::error_category is this enum).
    retryable,    ///< serialization failure, deadlock, lock not available, busy, connection lost
    in_doubt,     ///< outcome unknown (connection lost during COMMIT): never retried
    integrity,    ///< constraint violations
    programming,  ///< bad SQL, misuse of an API (a write in a read-only transaction, no current transaction…)
    timeout,      ///< the call's deadline passed, or a statement timeout (SQLSTATE 57014): never
                  ///< retried, answered with HTTP 408 (JSON-RPC 2.0: error -32008)
    unavailable,  ///< the server or its storage cannot serve now (disk full, out of memory, too many
                  ///< connections): not retried in the loop, answered with HTTP 503 and Retry-After
    other,        ///< anything else (the backend's unclassified errors, configuration, SMTP…)
    // The transaction layer.
    needs_fix,    ///< transaction_error: fix the start-up extras, then start again (SPEC §4.1)
    transient,    ///< a two-phase-commit attempt worth repeating (SPEC §3.8)
    // Errors whose text is for the client (SPEC §8.3–§8.4).
    invalid_argument,  ///< a bad value or type in the call's arguments (value_error, type_error)
    user,              ///< UserError (and Tryton errors without a category of their own)
    user_warning,      ///< UserWarning: the client may confirm and call again
    access,            ///< AccessError: denied by the access rules
    login,             ///< LoginException: the client must ask for a credential
    concurrency,       ///< ConcurrencyException: an optimistic lock failed
    rate_limited,      ///< too many attempts: HTTP 429
    // The transport.
    http,       ///< an HTTP-level answer (401, 403, 404, 408, 503 with Retry-After…)
    not_found,  ///< the method does not exist or is not exposed on this route
};

std::string_view to_string(error_category category);

/// How the transport answers an error.
struct wire_shape {
    std::string name;          ///< Tryton exception name ("UserError"…); empty when the dialect has none
    int jsonrpc_code = -32603; ///< JSON-RPC 2.0 error code
    int http_status = 500;     ///< Tryton bare-mode status, or the status of an HTTP-level answer
    std::optional<int> retry_after{};  ///< seconds, sent as Retry-After
    bool retryable = false;    ///< the client may call again later (503)
};

/// The shape of an error of `category` that says nothing more specific.
wire_shape default_wire_shape(error_category category);

class error : public std::runtime_error {
public:
    error(const std::string& message, error_category category)
        : std::runtime_error(message), category_(category) {}

    error_category category() const noexcept { return category_; }
    /// Default: default_wire_shape(category()).
    virtual wire_shape wire() const;
    /// The Tryton error array; default `[what(), ""]`.
    virtual nlohmann::json payload() const;

private:
    error_category category_;
};

}  // namespace atrium
