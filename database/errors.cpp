#include "database/errors.hpp"

#include <utility>

namespace atrium::db {

std::string_view to_string(error_category category) {
    switch (category) {
    case error_category::retryable: return "retryable";
    case error_category::in_doubt: return "in_doubt";
    case error_category::integrity: return "integrity";
    case error_category::programming: return "programming";
    case error_category::timeout: return "timeout";
    case error_category::unavailable: return "unavailable";
    case error_category::other: return "other";
    }
    return "unknown";
}

database_error::database_error(std::string message, error_category category, std::string code,
                               int native_code, std::string query)
    : std::runtime_error(std::move(message)),
      category_(category),
      code_(std::move(code)),
      native_code_(native_code),
      query_(std::move(query)) {}

}  // namespace atrium::db
