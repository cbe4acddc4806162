#pragma once
// Work that must survive a rollback of the caller (audit records, login
// bookkeeping) runs in a transaction of its own. On PostgreSQL that is a
// new_transaction() now. SQLite has a single writer and the caller's
// read-write transaction holds the write lock from its start, so there the
// work runs in its own transaction right after the caller's has ended
// (committed or rolled back), from an atexit callback.

#include <functional>

namespace atrium::modules {

void run_independently(std::function<void()> work);

}  // namespace atrium::modules
