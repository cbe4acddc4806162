#pragma once
// What the files implementing sqlite_connection share (not for other users).
// sqlite_connection is implemented across three files, one purpose each:
//   sqlite_connection.cpp           opening, closing, the statement cache, errors
//   sqlite_execute.cpp              running a statement (binding, stepping, busy retry)
//   sqlite_transaction_control.cpp  begin/commit/rollback, timeouts, the write turn,
//                                   savepoints and locks

#include "database/errors.hpp"
#include "database/sqlite/sqlite_errors.hpp"

#include <sqlite3.h>

#include <string>
#include <string_view>
#include <utility>

namespace atrium::db::sqlite_detail {

inline std::string primary_misuse_code() { return sqlite_code_name(SQLITE_MISUSE); }

[[noreturn]] inline void throw_misuse(std::string message, std::string_view sql = {}) {
    throw programming_error(std::move(message), error_category::programming,
                            primary_misuse_code(), SQLITE_MISUSE, std::string(sql));
}

}  // namespace atrium::db::sqlite_detail
