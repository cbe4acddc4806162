#pragma once
// Group commit for one SQLite database and process. Every read-write
// transaction that holds the process's write turn (sqlite_write_gate) runs on
// one shared writer connection, inside a savepoint of that connection's
// transaction (the "batch"). When it commits while other writers queue for the
// turn, its savepoint is released, the turn goes to the next writer and it
// waits: the last writer of the batch runs the one COMMIT (one fsync) for all
// of them and tells each the outcome. So with synchronous=FULL a commit still
// returns only once it is durable, but N queued writers pay for one fsync
// instead of N, and the writer's page cache stays warm across transactions.
//
// Isolation is unchanged: writers run one at a time, a rollback undoes only its
// own savepoint, and a commit that fails a deferred foreign key fails before
// joining the batch. What one member can do to the others: an error after which
// SQLite rolls back the whole transaction (an interrupt, SQLITE_FULL, an I/O
// error) fails the members waiting in the same batch with a retryable error.
// A writer with a statement timeout (which interrupts) therefore commits the
// waiting batch before it starts.

#include "database/database.hpp"
#include "database/sqlite/sqlite_connection.hpp"
#include "database/sqlite/sqlite_write_gate.hpp"

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace atrium::db {

class sqlite_group_commit {
public:
    /// Writers that may wait in one batch (bounds the latency a batch adds).
    static constexpr std::size_t k_max_batch = 32;

    sqlite_group_commit(sqlite_connection::open_params params,
                        std::shared_ptr<const sqlite_settings> settings,
                        std::shared_ptr<sqlite_write_gate> gate);
    ~sqlite_group_commit();

    sqlite_group_commit(const sqlite_group_commit&) = delete;
    sqlite_group_commit& operator=(const sqlite_group_commit&) = delete;

    // The three calls below are made by the member holding the write turn.

    /// Starts a member transaction on the writer (opened on first use): BEGIN
    /// IMMEDIATE unless a batch is open, then the member's savepoint. Returns
    /// the writer, on which the member runs its statements. On error the
    /// member is not started and still holds the turn.
    sqlite_connection& begin_member(const begin_options& options);
    /// Commits the member's work and gives back the turn (member.writer_ and
    /// member.holds_write_turn_ are cleared). True if the turn went to a
    /// writer that resumes on this thread. Throws as COMMIT would: if
    /// member.writer_ is still set afterwards, the transaction is still open
    /// (a deferred foreign key failed) and must be rolled back; otherwise it
    /// ended without committing.
    /// Without `may_wait` it COMMITs at once (with the batch waiting, if any).
    bool commit_member(sqlite_connection& member, bool may_wait);
    /// Rolls back the member's work and gives back the turn.
    void rollback_member(sqlite_connection& member) noexcept;

    /// Closes the writer (the database is being dropped; no member is active).
    void close() noexcept;
    /// Members waiting for the open batch's COMMIT (for tests).
    std::size_t waiting_members() const noexcept { return waiting_count_.load(); }

private:
    struct member_outcome;

    /// COMMITs the open batch for the waiting members; an error is theirs only.
    void commit_for_waiting() noexcept;
    /// Settles the waiting members: committed if `code` is SQLITE_OK, else failed.
    void settle_waiting(int code, const std::string& message) noexcept;
    /// Rolls back whatever the writer has open and fails the waiting members.
    void abandon_batch(int code, const std::string& message) noexcept;
    /// Ends the member's use of the writer; the turn is given back by the caller.
    void detach(sqlite_connection& member) noexcept;
    bool batch_lost() const noexcept;

    sqlite_connection::open_params params_;
    std::shared_ptr<const sqlite_settings> settings_;
    std::shared_ptr<sqlite_write_gate> gate_;
    std::unique_ptr<sqlite_connection> writer_;
    bool batch_open_ = false;
    std::vector<std::shared_ptr<member_outcome>> pending_;
    std::atomic<std::size_t> waiting_count_{0};  // pending_.size(), readable from any thread
};

}  // namespace atrium::db
