#include "database/errors.hpp"

#include <utility>

namespace atrium::db {

database_error::database_error(std::string message, error_category category, std::string code,
                               int native_code, std::string query)
    : atrium::error(message, category),
      code_(std::move(code)),
      native_code_(native_code),
      query_(std::move(query)) {}

}  // namespace atrium::db
