#pragma once
// What the dispatcher throws besides the modules' user-facing errors
// (modules/errors.hpp): plain HTTP outcomes and the JSON-RPC "invalid params"
// and "method not found" cases. The transport renders them per dialect
// (SPEC §8.1: HTTP-level failures are plain HTTP responses in both dialects).

#include <stdexcept>
#include <string>

namespace atrium::server {

/// Answered as a bare HTTP status (401, 403, 404, 408, 429 …).
class http_status_error : public std::runtime_error {
public:
    http_status_error(int status, std::string message) : std::runtime_error(std::move(message)), status_(status) {}
    int status() const noexcept { return status_; }

private:
    int status_;
};

/// Unknown object or method that is not exposed: 403 in the Tryton dialect,
/// -32601 in JSON-RPC 2.0 (SPEC §8.4).
class method_not_found_error : public http_status_error {
public:
    explicit method_not_found_error(const std::string& method)
        : http_status_error(403, "Method not found: " + method) {}
};

/// Argument conversion failed (missing context, duplicate ids, bad types):
/// -32602 in JSON-RPC 2.0, a generic error array in the Tryton dialect.
class invalid_params_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace atrium::server
