#pragma once
/// @file
/// @brief GET /metrics' view of a database's pool: a collector (util/metrics.hpp)
/// writing atrium_db_pool_connections{database,state} and
/// atrium_db_pool_max_connections{database}, read at scrape time.

#include "util/metrics.hpp"

#include <cstddef>
#include <functional>
#include <string>

namespace atrium::db {

class database;

/// Registers `db`'s pool with the metrics; the handle must die before `db`.
/// `max_size` (0: unbounded, not written) is read at each scrape.
metrics::collector_handle pool_collector(const database& db, std::function<std::size_t()> max_size);

/// atrium_sqlite_group_commit_batch_size: transactions made durable by one COMMIT.
metrics::histogram& group_commit_batch_sizes();

}  // namespace atrium::db
