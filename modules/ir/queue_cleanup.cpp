// The index of ir.queue and the purge of done tasks (modules/ir/queue.hpp).

#include "modules/ir/queue.hpp"

#include "transaction/retry.hpp"
#include "transaction/transaction.hpp"

namespace atrium::modules::ir {

void ensure_queue_index(db::connection& conn) {
    conn.execute("CREATE INDEX IF NOT EXISTS ir_queue_state_scheduled_idx ON ir_queue (state, scheduled_at)");
}

std::size_t purge_done_tasks(const std::shared_ptr<db::database>& database, std::chrono::seconds keep,
                             std::size_t batch) {
    const double before =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch() - keep).count();
    retry_options options;
    options.retry = 20;  // workers of several processes may purge at once
    std::size_t total = 0;
    for (;;) {
        std::size_t deleted = 0;
        call_with_retry(database, root_user, options, [&](transaction& txn) {
            // A bounded batch per transaction: SQLite's write lock is held briefly.
            deleted = static_cast<std::size_t>(
                txn.connection()
                    .execute("DELETE FROM ir_queue WHERE id IN (SELECT id FROM ir_queue WHERE state = 'done' "
                             "AND finished_at < ? ORDER BY id LIMIT ?)",
                             {before, static_cast<std::int64_t>(batch)})
                    .affected_rows);
            return nlohmann::json();
        });
        total += deleted;
        if (deleted < batch) return total;
    }
}

}  // namespace atrium::modules::ir
