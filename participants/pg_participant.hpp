#pragma once
// The PostgreSQL two-phase-commit participant (SPEC §5.1, §5.2, DESIGN §5):
// a second PostgreSQL database taking part in an Atrium transaction.
//
//   // in a module, inside a Tryton transaction (atrium::current()):
//   db::connection& wh = db::pg_join("postgresql://app@db1:5432/warehouse",
//                                    {{"stock", "order 42 reserved"}});
//   wh.execute("INSERT INTO reservation (order_id) VALUES (?)", {42});
//   // ...the transaction's commit prepares it, writes a decision record in
//   // the main database, commits the main database, then COMMIT PREPARED.
//
// * pg_join(dsn, txn, notify) opens a connection of its own (never a pooled
//   one) to the database named by the URI path, once per transaction and DSN
//   string: a second call with the same DSN in the same transaction returns
//   the same connection and adds its notifications. The connection is closed
//   when the transaction's cycle ends (commit or rollback); the returned
//   reference is valid until then.
// * pg_join(connection, txn, notify) takes part with an existing PostgreSQL
//   connection (for example one acquired from a pool); it must be idle (no
//   transaction, no autocommit session) and is never closed by the participant.
//   After the cycle it is idle again.
// * The DM joins the transaction first and BEGINs afterwards. At vote it runs
//   `PREPARE TRANSACTION '<gid>'` (gid from tpc::new_gid()), at finish
//   `COMMIT PREPARED`, at abort `ROLLBACK` (before the vote) or `ROLLBACK
//   PREPARED` (after it; "does not exist", SQLSTATE 42704, is tolerated: the
//   recovery pass may have finished it). Every terminal method is idempotent.
// * Notifications: NOTIFY (and LISTEN, UNLISTEN, temporary tables, WITH HOLD
//   cursors) inside the branch would make PREPARE TRANSACTION fail; the
//   participant sends the accumulated (channel, optional payload) pairs with
//   `SELECT pg_notify(...)` after COMMIT PREPARED, in a transaction of their
//   own, de-duplicated, in first-registration order. The channel is passed as
//   is (pg_notify() does not case-fold it, unlike an unquoted NOTIFY name).
//   A failing NOTIFY is logged; the cycle still completes.
// * While the branch is open, the connection returned by the DSN form refuses
//   begin(), commit(), rollback() and statements that end or change the
//   transaction (BEGIN, COMMIT, END, ABORT, ROLLBACK other than ROLLBACK TO,
//   PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED) or that cannot be prepared
//   (NOTIFY, pg_notify(), LISTEN, UNLISTEN) with a programming_error. A
//   connection joined with the connection form is the caller's own object:
//   nothing can intercept a commit() called on it; don't (the vote then fails
//   because the branch is gone, and the transaction aborts).
// * A call's limits (issue 20): the branch obeys the deadline and the
//   cancellation of the call that joined it (the fiber's call limits, or the
//   Tryton transaction's deadline when earlier): its statements, PREPARE
//   TRANSACTION included, are refused past the deadline, run with the time
//   left as statement timeout, and are cancelled with the call, so a late or
//   abandoned call votes no and everything rolls back. After the commit
//   decision, the wait for a prepared transaction another session is
//   finishing ends at the deadline too, and a lost connection is not
//   reconnected past it: recovery finishes the branch from the decision
//   record, and the call (already decided) is answered as committed.
// * A server with max_prepared_transactions = 0 is refused at join with a
//   programming_error that says so.
// * sort_key() and participant_id() are the participant's DSN without the
//   password and query: "postgresql://user@host:port/dbname" (for the
//   connection form, built from what the server reports). Recovery
//   (pg_participant_store.hpp) lists the database's Atrium gids and decides
//   each from the decision records (transaction/recovery.hpp).
//
// DSN: `postgresql://[user[:password]@][host][:port]/dbname[?params]` (or
// postgres://), percent-encoded as libpq URIs; params sslmode,
// connect_timeout and application_name go to libpq, the backend's pool
// parameters (pool_size, pool_wait_ms, idle_timeout_s, retry) are ignored,
// anything else is a std::invalid_argument. Key/value conninfo strings are not
// accepted.

#include "database/database.hpp"
#include "database/postgresql/pg_connection.hpp"
#include "transaction/recovery.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atrium {
class transaction;
}
namespace atrium::tpc {
class coordinator;
}

namespace atrium::db {

/// A parsed participant DSN.
struct pg_participant_dsn {
    std::string conninfo;        ///< what libpq gets (a URI, password included)
    std::string participant_id;  ///< "postgresql://user@host:port/dbname" (no password, no query)
    std::string database;        ///< the database name (decoded)

    /// Throws std::invalid_argument (the message never shows the password).
    static pg_participant_dsn parse(std::string_view dsn);
};

/// One NOTIFY sent after the commit: a channel and an optional payload.
struct pg_notification {
    std::string channel;
    std::optional<std::string> payload;

    pg_notification(std::string channel_name) : channel(std::move(channel_name)) {}  // NOLINT: implicit
    pg_notification(const char* channel_name) : channel(channel_name) {}              // NOLINT: implicit
    pg_notification(std::string channel_name, std::string payload_text)
        : channel(std::move(channel_name)), payload(std::move(payload_text)) {}

    /// The SQL form of SPEC §5.1: `channel` or `channel, 'payload'` (quotes
    /// doubled inside the payload; a "double-quoted" channel keeps its case).
    /// Throws std::invalid_argument.
    static pg_notification parse(std::string_view text);

    bool operator==(const pg_notification&) const = default;
};

/// The data manager behind pg_join(). Use pg_join(); this is public for tests
/// and for code that needs its state.
class pg_data_manager final : public tpc::recoverable_data_manager {
public:
    enum class phase {
        active,          ///< BEGIN done, work may be running
        prepared,        ///< PREPARE TRANSACTION succeeded
        maybe_prepared,  ///< the connection was lost during PREPARE: outcome unknown
        finished,        ///< COMMIT PREPARED done (or found done)
        aborted,         ///< rolled back (or nothing to do)
    };

    /// The DSN form: owns `conn`, closes it at completion.
    /// `gid`: the transaction's (tpc::coordinator::new_gid()); empty: an old-format one.
    pg_data_manager(std::string dsn, pg_participant_dsn parsed, std::unique_ptr<pg_connection> conn,
                    std::string gid = {});
    /// The connection form: borrows `conn`.
    pg_data_manager(pg_connection& conn, std::string participant_id, std::string gid = {});
    ~pg_data_manager() override;

    pg_data_manager(const pg_data_manager&) = delete;
    pg_data_manager& operator=(const pg_data_manager&) = delete;

    // --- data_manager ---
    std::string sort_key() const override { return participant_id_; }
    void tpc_begin(tpc::coordinator&) override {}
    void commit(tpc::coordinator&) override {}
    void tpc_vote(tpc::coordinator& txn) override;
    void tpc_finish(tpc::coordinator& txn) override;
    void tpc_abort(tpc::coordinator& txn) override;
    void abort(tpc::coordinator& txn) override;

    // --- recoverable_data_manager ---
    const std::string& gid() const override { return gid_; }
    std::string participant_id() const override { return participant_id_; }

    /// The call's limits the branch obeys (set by pg_join before begin_branch).
    void set_call_limits(deadline until, std::shared_ptr<cancellation> cancel);
    /// BEGIN on the connection (pg_join calls it right after joining).
    void begin_branch();
    /// The connection callers use: for the DSN form a guard refusing
    /// transaction control while the branch is open; for the connection form
    /// the caller's own connection.
    connection& user_connection() noexcept;
    /// The underlying connection (null once the DSN form closed it).
    pg_connection* raw_connection() const noexcept { return conn_; }
    /// The DSN string given to pg_join ("" for the connection form).
    const std::string& dsn() const noexcept { return dsn_; }
    bool owns_connection() const noexcept { return owned_ != nullptr; }
    phase state() const noexcept { return phase_; }
    /// True until the cycle ended (finished or aborted).
    bool branch_open() const noexcept {
        return phase_ == phase::active || phase_ == phase::prepared || phase_ == phase::maybe_prepared;
    }

    /// Adds notifications (duplicates are dropped, first registration wins the order).
    void add_notifications(const std::vector<pg_notification>& notify);
    const std::vector<pg_notification>& notifications() const noexcept { return notify_; }

private:
    class guarded_connection;

    /// Runs COMMIT/ROLLBACK PREPARED; `commit` picks which. Tolerates 42704
    /// (returns false then). On a lost connection of the DSN form, retries
    /// once on a fresh connection.
    bool finish_prepared(bool commit);
    /// Logs failures (only forced_unwind propagates).
    void send_notifications();
    /// End of the cycle: closes the owned connection.
    void complete() noexcept;

    std::string dsn_;
    std::string conninfo_;  // DSN form: to reconnect for finishing a prepared branch
    std::string participant_id_;
    std::string gid_;
    std::unique_ptr<pg_connection> owned_;
    pg_connection* conn_ = nullptr;
    std::unique_ptr<guarded_connection> guard_;
    phase phase_ = phase::aborted;  // until begin_branch()
    std::vector<pg_notification> notify_;
    deadline until_{};
    std::shared_ptr<cancellation> cancel_;
};

/// COMMIT PREPARED (`commit`) or ROLLBACK PREPARED of `gid` on `conn`, which
/// must be connected to the branch's database and idle. Returns false when the
/// gid does not exist (any more): SQLSTATE 42704, someone finished it. While
/// another session is finishing the same gid ("prepared transaction ... is
/// busy", 55000) it waits in small steps (at most about 5 s). COMMIT PREPARED
/// runs as a decisive statement (a lost connection is an in_doubt_error).
/// With `until`, that wait also ends there (recovery finishes the rest).
bool pg_finish_prepared(pg_connection& conn, const std::string& gid, bool commit, const deadline& until = {});

/// Joins the database named by `dsn` to `txn` (see the file comment) and
/// returns its connection. Same DSN string, same transaction ⇒ same connection.
connection& pg_join(const std::string& dsn, tpc::coordinator& txn, const std::vector<pg_notification>& notify = {});
/// The same for a Tryton transaction (must be started).
connection& pg_join(const std::string& dsn, atrium::transaction& txn, const std::vector<pg_notification>& notify = {});
/// The same for atrium::current().
connection& pg_join(const std::string& dsn, const std::vector<pg_notification>& notify = {});

/// Joins an existing, idle PostgreSQL connection (programming_error if it is
/// not a PostgreSQL connection or not idle). Joining the same connection twice
/// in one transaction only adds the notifications.
void pg_join(connection& conn, tpc::coordinator& txn, const std::vector<pg_notification>& notify = {});
void pg_join(connection& conn, atrium::transaction& txn, const std::vector<pg_notification>& notify = {});
void pg_join(connection& conn, const std::vector<pg_notification>& notify = {});

}  // namespace atrium::db
