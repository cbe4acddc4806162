#include "database/sqlite/sqlite_errors.hpp"

#include <sqlite3.h>

#include <utility>

namespace atrium::db {

namespace {

struct code_entry {
    int code;
    const char* name;
};

// Every result code of SQLite 3.40 (the installed version) plus the few that
// later releases added, spelled with literals so the table does not depend on
// the header's version.
constexpr code_entry k_codes[] = {
    {SQLITE_OK, "SQLITE_OK"},
    {SQLITE_ERROR, "SQLITE_ERROR"},
    {SQLITE_INTERNAL, "SQLITE_INTERNAL"},
    {SQLITE_PERM, "SQLITE_PERM"},
    {SQLITE_ABORT, "SQLITE_ABORT"},
    {SQLITE_BUSY, "SQLITE_BUSY"},
    {SQLITE_LOCKED, "SQLITE_LOCKED"},
    {SQLITE_NOMEM, "SQLITE_NOMEM"},
    {SQLITE_READONLY, "SQLITE_READONLY"},
    {SQLITE_INTERRUPT, "SQLITE_INTERRUPT"},
    {SQLITE_IOERR, "SQLITE_IOERR"},
    {SQLITE_CORRUPT, "SQLITE_CORRUPT"},
    {SQLITE_NOTFOUND, "SQLITE_NOTFOUND"},
    {SQLITE_FULL, "SQLITE_FULL"},
    {SQLITE_CANTOPEN, "SQLITE_CANTOPEN"},
    {SQLITE_PROTOCOL, "SQLITE_PROTOCOL"},
    {SQLITE_EMPTY, "SQLITE_EMPTY"},
    {SQLITE_SCHEMA, "SQLITE_SCHEMA"},
    {SQLITE_TOOBIG, "SQLITE_TOOBIG"},
    {SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT"},
    {SQLITE_MISMATCH, "SQLITE_MISMATCH"},
    {SQLITE_MISUSE, "SQLITE_MISUSE"},
    {SQLITE_NOLFS, "SQLITE_NOLFS"},
    {SQLITE_AUTH, "SQLITE_AUTH"},
    {SQLITE_FORMAT, "SQLITE_FORMAT"},
    {SQLITE_RANGE, "SQLITE_RANGE"},
    {SQLITE_NOTADB, "SQLITE_NOTADB"},
    {SQLITE_NOTICE, "SQLITE_NOTICE"},
    {SQLITE_WARNING, "SQLITE_WARNING"},
    {SQLITE_ROW, "SQLITE_ROW"},
    {SQLITE_DONE, "SQLITE_DONE"},
    {1 | (1 << 8), "SQLITE_ERROR_MISSING_COLLSEQ"},
    {1 | (2 << 8), "SQLITE_ERROR_RETRY"},
    {1 | (3 << 8), "SQLITE_ERROR_SNAPSHOT"},
    {10 | (1 << 8), "SQLITE_IOERR_READ"},
    {10 | (2 << 8), "SQLITE_IOERR_SHORT_READ"},
    {10 | (3 << 8), "SQLITE_IOERR_WRITE"},
    {10 | (4 << 8), "SQLITE_IOERR_FSYNC"},
    {10 | (5 << 8), "SQLITE_IOERR_DIR_FSYNC"},
    {10 | (6 << 8), "SQLITE_IOERR_TRUNCATE"},
    {10 | (7 << 8), "SQLITE_IOERR_FSTAT"},
    {10 | (8 << 8), "SQLITE_IOERR_UNLOCK"},
    {10 | (9 << 8), "SQLITE_IOERR_RDLOCK"},
    {10 | (10 << 8), "SQLITE_IOERR_DELETE"},
    {10 | (11 << 8), "SQLITE_IOERR_BLOCKED"},
    {10 | (12 << 8), "SQLITE_IOERR_NOMEM"},
    {10 | (13 << 8), "SQLITE_IOERR_ACCESS"},
    {10 | (14 << 8), "SQLITE_IOERR_CHECKRESERVEDLOCK"},
    {10 | (15 << 8), "SQLITE_IOERR_LOCK"},
    {10 | (16 << 8), "SQLITE_IOERR_CLOSE"},
    {10 | (17 << 8), "SQLITE_IOERR_DIR_CLOSE"},
    {10 | (18 << 8), "SQLITE_IOERR_SHMOPEN"},
    {10 | (19 << 8), "SQLITE_IOERR_SHMSIZE"},
    {10 | (20 << 8), "SQLITE_IOERR_SHMLOCK"},
    {10 | (21 << 8), "SQLITE_IOERR_SHMMAP"},
    {10 | (22 << 8), "SQLITE_IOERR_SEEK"},
    {10 | (23 << 8), "SQLITE_IOERR_DELETE_NOENT"},
    {10 | (24 << 8), "SQLITE_IOERR_MMAP"},
    {10 | (25 << 8), "SQLITE_IOERR_GETTEMPPATH"},
    {10 | (26 << 8), "SQLITE_IOERR_CONVPATH"},
    {10 | (27 << 8), "SQLITE_IOERR_VNODE"},
    {10 | (28 << 8), "SQLITE_IOERR_AUTH"},
    {10 | (29 << 8), "SQLITE_IOERR_BEGIN_ATOMIC"},
    {10 | (30 << 8), "SQLITE_IOERR_COMMIT_ATOMIC"},
    {10 | (31 << 8), "SQLITE_IOERR_ROLLBACK_ATOMIC"},
    {10 | (32 << 8), "SQLITE_IOERR_DATA"},
    {10 | (33 << 8), "SQLITE_IOERR_CORRUPTFS"},
    {10 | (34 << 8), "SQLITE_IOERR_IN_PAGE"},
    {6 | (1 << 8), "SQLITE_LOCKED_SHAREDCACHE"},
    {6 | (2 << 8), "SQLITE_LOCKED_VTAB"},
    {5 | (1 << 8), "SQLITE_BUSY_RECOVERY"},
    {5 | (2 << 8), "SQLITE_BUSY_SNAPSHOT"},
    {5 | (3 << 8), "SQLITE_BUSY_TIMEOUT"},
    {14 | (1 << 8), "SQLITE_CANTOPEN_NOTEMPDIR"},
    {14 | (2 << 8), "SQLITE_CANTOPEN_ISDIR"},
    {14 | (3 << 8), "SQLITE_CANTOPEN_FULLPATH"},
    {14 | (4 << 8), "SQLITE_CANTOPEN_CONVPATH"},
    {14 | (5 << 8), "SQLITE_CANTOPEN_DIRTYWAL"},
    {14 | (6 << 8), "SQLITE_CANTOPEN_SYMLINK"},
    {11 | (1 << 8), "SQLITE_CORRUPT_VTAB"},
    {11 | (2 << 8), "SQLITE_CORRUPT_SEQUENCE"},
    {11 | (3 << 8), "SQLITE_CORRUPT_INDEX"},
    {8 | (1 << 8), "SQLITE_READONLY_RECOVERY"},
    {8 | (2 << 8), "SQLITE_READONLY_CANTLOCK"},
    {8 | (3 << 8), "SQLITE_READONLY_ROLLBACK"},
    {8 | (4 << 8), "SQLITE_READONLY_DBMOVED"},
    {8 | (5 << 8), "SQLITE_READONLY_CANTINIT"},
    {8 | (6 << 8), "SQLITE_READONLY_DIRECTORY"},
    {4 | (2 << 8), "SQLITE_ABORT_ROLLBACK"},
    {19 | (1 << 8), "SQLITE_CONSTRAINT_CHECK"},
    {19 | (2 << 8), "SQLITE_CONSTRAINT_COMMITHOOK"},
    {19 | (3 << 8), "SQLITE_CONSTRAINT_FOREIGNKEY"},
    {19 | (4 << 8), "SQLITE_CONSTRAINT_FUNCTION"},
    {19 | (5 << 8), "SQLITE_CONSTRAINT_NOTNULL"},
    {19 | (6 << 8), "SQLITE_CONSTRAINT_PRIMARYKEY"},
    {19 | (7 << 8), "SQLITE_CONSTRAINT_TRIGGER"},
    {19 | (8 << 8), "SQLITE_CONSTRAINT_UNIQUE"},
    {19 | (9 << 8), "SQLITE_CONSTRAINT_VTAB"},
    {19 | (10 << 8), "SQLITE_CONSTRAINT_ROWID"},
    {19 | (11 << 8), "SQLITE_CONSTRAINT_PINNED"},
    {19 | (12 << 8), "SQLITE_CONSTRAINT_DATATYPE"},
    {27 | (1 << 8), "SQLITE_NOTICE_RECOVER_WAL"},
    {27 | (2 << 8), "SQLITE_NOTICE_RECOVER_ROLLBACK"},
    {27 | (3 << 8), "SQLITE_NOTICE_RBU"},
    {28 | (1 << 8), "SQLITE_WARNING_AUTOINDEX"},
    {23 | (1 << 8), "SQLITE_AUTH_USER"},
    {0 | (1 << 8), "SQLITE_OK_LOAD_PERMANENTLY"},
    {0 | (2 << 8), "SQLITE_OK_SYMLINK"},
};

const char* find_name(int code) {
    for (const auto& entry : k_codes) {
        if (entry.code == code) return entry.name;
    }
    return nullptr;
}

}  // namespace

std::string sqlite_code_name(int extended_code) {
    if (const char* name = find_name(extended_code)) return name;
    if (const char* name = find_name(extended_code & 0xff)) return name;
    return "SQLITE_UNKNOWN_" + std::to_string(extended_code);
}

error_category sqlite_category(int extended_code) {
    switch (extended_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_SCHEMA:    // the schema changed under a prepared statement: run it again
    case SQLITE_PROTOCOL:  // a WAL lock race that SQLite gave up on: transient
        return error_category::retryable;
    case SQLITE_CONSTRAINT:
        return error_category::integrity;
    case SQLITE_ERROR:
    case SQLITE_READONLY:
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_AUTH:
        return error_category::programming;
    case SQLITE_INTERRUPT:
        return error_category::timeout;
    case SQLITE_FULL:      // the disk (or max_page_count) is full: reads still work
    case SQLITE_NOMEM:
    case SQLITE_IOERR:     // the file system failed under us (ENOSPC, EIO)
    case SQLITE_CANTOPEN:  // the file or its folder cannot be opened now
        return error_category::unavailable;
    default:
        return error_category::other;
    }
}

bool sqlite_code_breaks_connection(int extended_code) {
    switch (extended_code & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOMEM:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_INTERNAL:
        return true;
    default:
        return false;
    }
}

std::exception_ptr make_sqlite_error(int extended_code, std::string_view message,
                                     std::string query) {
    std::string code = sqlite_code_name(extended_code);
    std::string text;
    text.reserve(message.size() + code.size() + 3);
    text.append(message).append(" (").append(code).append(")");
    const error_category category = sqlite_category(extended_code);
    switch (category) {
    case error_category::integrity:
        return std::make_exception_ptr(integrity_error(std::move(text), category, std::move(code),
                                                       extended_code, std::move(query)));
    case error_category::programming:
        return std::make_exception_ptr(programming_error(std::move(text), category,
                                                         std::move(code), extended_code,
                                                         std::move(query)));
    case error_category::timeout:
        return std::make_exception_ptr(timeout_error(std::move(text), category, std::move(code),
                                                     extended_code, std::move(query)));
    default:  // retryable, unavailable, other (in_doubt: never produced by SQLite, a commit is atomic)
        break;
    }
    return std::make_exception_ptr(operational_error(std::move(text), category, std::move(code),
                                                     extended_code, std::move(query)));
}

void throw_sqlite_error(int extended_code, std::string_view message, std::string query) {
    std::rethrow_exception(make_sqlite_error(extended_code, message, std::move(query)));
}

}  // namespace atrium::db
