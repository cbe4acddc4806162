#include "database/pool_metrics.hpp"

#include "database/database.hpp"

namespace atrium::db {

metrics::collector_handle pool_collector(const database& db, std::function<std::size_t()> max_size) {
    return metrics::collector_handle([&db, max_size = std::move(max_size)](metrics::writer& w) {
        const std::string name = db.name();
        w.family("atrium_db_pool_connections", "gauge", "Pooled database connections, by state.");
        w.sample("atrium_db_pool_connections", {{"database", name}, {"state", "in_use"}},
                 static_cast<double>(db.in_use()));
        w.sample("atrium_db_pool_connections", {{"database", name}, {"state", "idle"}}, static_cast<double>(db.idle()));
        if (const std::size_t most = max_size ? max_size() : 0; most > 0) {
            w.family("atrium_db_pool_max_connections", "gauge", "Most connections the pool opens (in use + idle).");
            w.sample("atrium_db_pool_max_connections", {{"database", name}}, static_cast<double>(most));
        }
    });
}

metrics::histogram& group_commit_batch_sizes() {
    static metrics::histogram& h = metrics::register_histogram(
        "atrium_sqlite_group_commit_batch_size", "Read-write transactions made durable by one SQLite COMMIT (group commit).",
        {}, {1, 2, 4, 8, 16, 32});
    return h;
}

}  // namespace atrium::db
