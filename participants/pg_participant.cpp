#include "participants/pg_participant.hpp"

#include "database/errors.hpp"
#include "database/postgresql/pg_sql.hpp"
#include "fiber/unwind.hpp"
#include "transaction/coordinator.hpp"
#include "transaction/fiber_context.hpp"
#include "transaction/logging.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <set>
#include <stdexcept>

namespace atrium::db {

namespace {

[[noreturn]] void misuse(std::string message, std::string_view sql = {}, const char* sqlstate = "25000") {
    message += " [SQLSTATE ";
    message += sqlstate;
    message += "]";
    throw programming_error(std::move(message), error_category::programming, sqlstate, 0, std::string(sql));
}

const std::shared_ptr<const pg_settings>& participant_settings() {
    // The hooks look the current fiber up at every call: one object serves all.
    static const std::shared_ptr<const pg_settings> settings = pg_settings::make(fiber_wait_hooks());
    return settings;
}

std::string percent_encode(std::string_view text) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0x0f]);
        }
    }
    return out;
}

std::string text_of(const value& v) {
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
    return {};
}

// Servers known to accept PREPARE TRANSACTION (by participant id). The
// setting only changes with a server restart; a server restarted with 0 makes
// PREPARE fail with "prepared transactions are disabled", which aborts cleanly.
std::mutex g_checked_mutex;
std::set<std::string> g_checked;

void refuse_disabled(const std::string& where) {
    misuse("PostgreSQL at " + where +
               " has max_prepared_transactions = 0; two-phase commit needs it > 0 (set it, at least to the "
               "number of connections taking part in two-phase commit, and restart the server)",
           "SHOW max_prepared_transactions", "55000");
}

void require_prepared_transactions(pg_connection& conn, const std::string& participant) {
    {
        std::lock_guard lock(g_checked_mutex);
        if (g_checked.contains(participant)) return;
    }
    auto rows = conn.execute("SHOW max_prepared_transactions");
    const std::string setting = rows.empty() ? std::string() : text_of(rows.rows.front().at(0));
    if (setting == "0") refuse_disabled(participant);
    std::lock_guard lock(g_checked_mutex);
    g_checked.insert(participant);
}

bool is_lost_connection(const database_error& error) {
    return error.category() == error_category::in_doubt ||
           (error.category() == error_category::retryable && error.code().rfind("08", 0) == 0) ||
           error.code().rfind("57P0", 0) == 0;
}

}  // namespace

// ---------------------------------------------------------------------------
// The guarded connection of the DSN form

class pg_data_manager::guarded_connection final : public connection {
public:
    explicit guarded_connection(pg_data_manager& dm) : dm_(dm) {}

    void begin(const begin_options& options) override {
        refuse_if_open("BEGIN", "begin()");
        target().begin(options);
    }
    bool in_transaction() const override { return dm_.conn_ && dm_.conn_->in_transaction(); }
    bool readonly() const override { return dm_.conn_ && dm_.conn_->readonly(); }
    result execute(std::string_view sql, const std::vector<value>& params) override {
        check_statement(sql);
        return target().execute(sql, params);
    }
    void commit() override {
        refuse_if_open("COMMIT", "commit()");
        target().commit();
    }
    void rollback() override {
        refuse_if_open("ROLLBACK", "rollback()");
        target().rollback();
    }
    void savepoint(std::string_view name) override { target().savepoint(name); }
    void release_savepoint(std::string_view name) override { target().release_savepoint(name); }
    void rollback_to_savepoint(std::string_view name) override { target().rollback_to_savepoint(name); }
    void lock_table(std::string_view table) override { target().lock_table(table); }
    void lock_records(std::string_view table, const std::vector<std::int64_t>& ids) override {
        target().lock_records(table, ids);
    }
    void close() noexcept override {
        // Closing rolls the branch back on the server: its vote then fails.
        if (dm_.conn_) dm_.conn_->close();
    }
    bool is_open() const override { return dm_.conn_ && dm_.conn_->is_open(); }
    std::string_view backend_name() const override { return "postgresql"; }

private:
    pg_connection& target() const {
        if (!dm_.conn_) misuse("the participant connection is closed", {}, "08003");
        return *dm_.conn_;
    }

    void refuse_if_open(std::string_view sql, std::string_view what) const {
        if (!dm_.branch_open()) return;
        misuse(std::string(what) + " is not allowed on a connection taking part in two-phase commit (" +
                   dm_.participant_id_ + "): the transaction's commit or rollback ends it",
               sql);
    }

    void check_statement(std::string_view sql) const {
        if (!dm_.branch_open()) return;
        const auto words = pg_leading_keywords(sql, 3);
        if (words.empty()) return;
        const std::string& w = words[0];
        const std::string second = words.size() > 1 ? words[1] : std::string();
        const std::string third = words.size() > 2 ? words[2] : std::string();
        const bool rollback_to = w == "ROLLBACK" && (second == "TO" || ((second == "TRANSACTION" || second == "WORK") &&
                                                                        third == "TO"));
        if (w == "BEGIN" || (w == "START" && second == "TRANSACTION") || w == "COMMIT" || w == "END" ||
            w == "ABORT" || (w == "ROLLBACK" && !rollback_to) || (w == "PREPARE" && second == "TRANSACTION")) {
            misuse("\"" + w + "\" is not allowed on a connection taking part in two-phase commit (" +
                       dm_.participant_id_ + "): the transaction's commit or rollback ends it",
                   sql);
        }
        if (w == "NOTIFY" || w == "LISTEN" || w == "UNLISTEN" || pg_contains_word(sql, "pg_notify")) {
            misuse("NOTIFY, LISTEN and UNLISTEN make PREPARE TRANSACTION fail; pass notifications to pg_join(), "
                   "they are sent after the commit",
                   sql, "0A000");
        }
    }

    pg_data_manager& dm_;
};

// ---------------------------------------------------------------------------
// pg_data_manager

pg_data_manager::pg_data_manager(std::string dsn, pg_participant_dsn parsed, std::unique_ptr<pg_connection> conn,
                                 std::string gid)
    : dsn_(std::move(dsn)),
      conninfo_(std::move(parsed.conninfo)),
      participant_id_(std::move(parsed.participant_id)),
      gid_(gid.empty() ? tpc::new_gid() : std::move(gid)),
      owned_(std::move(conn)),
      conn_(owned_.get()),
      guard_(std::make_unique<guarded_connection>(*this)) {}

pg_data_manager::pg_data_manager(pg_connection& conn, std::string participant_id, std::string gid)
    : participant_id_(std::move(participant_id)), gid_(gid.empty() ? tpc::new_gid() : std::move(gid)), conn_(&conn) {}

pg_data_manager::~pg_data_manager() = default;  // an owned connection closes (a prepared branch stays prepared)

connection& pg_data_manager::user_connection() noexcept {
    if (guard_) return *guard_;
    return *conn_;
}

void pg_data_manager::set_call_limits(deadline until, std::shared_ptr<cancellation> cancel) {
    until_ = until;
    cancel_ = std::move(cancel);
}

void pg_data_manager::begin_branch() {
    if (branch_open()) misuse("the two-phase-commit branch " + gid_ + " has already begun", "BEGIN");
    begin_options options;
    options.until = until_;
    options.cancel = cancel_.get();
    conn_->begin(options);
    phase_ = phase::active;
}

void pg_data_manager::add_notifications(const std::vector<pg_notification>& notify) {
    for (const auto& n : notify) {
        if (n.channel.empty()) throw std::invalid_argument("a notification needs a channel");
        if (std::find(notify_.begin(), notify_.end(), n) == notify_.end()) notify_.push_back(n);
    }
}

void pg_data_manager::tpc_vote(tpc::coordinator&) {
    if (phase_ != phase::active) {
        misuse("participant " + participant_id_ + " cannot vote: its branch is not active (BEGIN failed, or it was "
               "already prepared or ended)",
               "PREPARE TRANSACTION");
    }
    const std::string sql = "PREPARE TRANSACTION " + conn_->literal(gid_);
    try {
        conn_->execute(sql);
    } catch (const database_error& error) {
        // The block is over either way; a lost connection leaves it unknown
        // whether the server prepared it (tpc_abort then tries ROLLBACK PREPARED).
        phase_ = is_lost_connection(error) || conn_->broken() ? phase::maybe_prepared : phase::aborted;
        try {
            conn_->rollback();  // ends the local session only
        } catch (const std::exception&) {
        }
        throw;
    }
    phase_ = phase::prepared;
    conn_->rollback();  // no transaction block any more: ends the session, sends nothing
    // PREPARE TRANSACTION on a transaction an earlier error aborted rolls it
    // back and reports no error: make sure it was prepared.
    auto rows = conn_->execute("SELECT 1 FROM pg_prepared_xacts WHERE gid = ? AND database = current_database()",
                               {gid_});
    if (rows.empty()) {
        phase_ = phase::aborted;
        misuse("PREPARE TRANSACTION on " + participant_id_ +
                   " rolled back instead: an earlier statement of the transaction had failed",
               sql, "25P02");
    }
}

bool pg_data_manager::finish_prepared(bool commit) {
    auto attempt = [&](pg_connection& c) { return pg_finish_prepared(c, gid_, commit, until_); };
    if (conn_ && conn_->is_open()) {
        try {
            return attempt(*conn_);
        } catch (const database_error& error) {
            if (conninfo_.empty() || !(conn_->broken() || is_lost_connection(error))) throw;
            log_warning("participant " + participant_id_ + ": " + error.what() + "; retrying on a new connection");
        }
    } else if (conninfo_.empty()) {
        misuse("participant " + participant_id_ + ": the connection is closed; recovery will finish " + gid_, {},
               "08003");
    }
    if (const auto left = time_left(until_); left && left->count() <= 0) {
        misuse("participant " + participant_id_ + ": the call's deadline passed; recovery will finish " + gid_, {},
               "57014");
    }
    // The DSN form can reach the database again.
    pg_connection fresh(conninfo_, participant_id_, participant_settings());
    return attempt(fresh);
}

void pg_data_manager::tpc_finish(tpc::coordinator&) {
    if (phase_ == phase::finished || phase_ == phase::aborted) return;
    if (phase_ != phase::prepared) {
        misuse("participant " + participant_id_ + " cannot finish: it did not prepare", "COMMIT PREPARED");
    }
    // From here on the branch is never rolled back by us: the main database
    // committed; if COMMIT PREPARED fails, recovery commits it later.
    phase_ = phase::finished;
    try {
        if (!finish_prepared(true)) {
            log_warning("participant " + participant_id_ + ": " + gid_ + " was already committed (by recovery)");
        }
    } catch (...) {
        fiber::rethrow_if_unwinding();
        complete();
        throw;
    }
    send_notifications();
    complete();
}

void pg_data_manager::tpc_abort(tpc::coordinator&) {
    switch (phase_) {
    case phase::finished:
    case phase::aborted:
        return;
    case phase::active:
        phase_ = phase::aborted;
        try {
            if (conn_) conn_->rollback();
        } catch (...) {
            fiber::rethrow_if_unwinding();
            complete();
            throw;
        }
        complete();
        return;
    case phase::prepared:
    case phase::maybe_prepared:
        phase_ = phase::aborted;
        try {
            finish_prepared(false);
        } catch (...) {
            fiber::rethrow_if_unwinding();
            // No decision record: recovery rolls it back.
            complete();
            throw;
        }
        complete();
        return;
    }
}

void pg_data_manager::abort(tpc::coordinator& txn) { tpc_abort(txn); }

void pg_data_manager::send_notifications() {
    if (notify_.empty()) return;
    try {
        std::string sql = "SELECT ";
        std::vector<value> params;
        for (std::size_t i = 0; i < notify_.size(); ++i) {
            if (i > 0) sql += ", ";
            sql += "pg_notify(?, ?)";
            params.emplace_back(notify_[i].channel);
            params.emplace_back(notify_[i].payload.value_or(std::string()));
        }
        // One statement outside a transaction block: its own transaction.
        if (conn_ && conn_->is_open() && !conn_->in_transaction()) {
            conn_->execute(sql, params);
        } else if (!conninfo_.empty()) {
            pg_connection fresh(conninfo_, participant_id_, participant_settings());
            fresh.execute(sql, params);
        } else {
            throw std::runtime_error("the connection is not usable");
        }
    } catch (...) {
        fiber::rethrow_if_unwinding();
        log_error("participant " + participant_id_ + ": the notifications after the commit of " + gid_ +
                  " could not be sent: " + describe_exception(std::current_exception()));
    }
}

void pg_data_manager::complete() noexcept {
    if (owned_) owned_->close();
}

bool pg_finish_prepared(pg_connection& conn, const std::string& gid, bool commit, const deadline& until) {
    const std::string sql = std::string(commit ? "COMMIT PREPARED " : "ROLLBACK PREPARED ") + conn.literal(gid);
    auto pause = std::chrono::milliseconds(1);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    if (until && *until < deadline) deadline = *until;
    for (;;) {
        try {
            if (commit) conn.execute_decisive(sql);
            else conn.execute(sql);
            return true;
        } catch (const database_error& error) {
            if (error.code() == "42704") return false;  // finished already (by recovery, or an in-doubt first try)
            // Another session is finishing it right now (its coordinator and
            // a recovery pass may meet here): wait, it then no longer exists.
            if (error.code() != "55000" || std::chrono::steady_clock::now() >= deadline) throw;
        }
        fiber::current().sleep_for(pause);
        pause = std::min<std::chrono::milliseconds>(pause * 2, std::chrono::milliseconds(50));
    }
}

// ---------------------------------------------------------------------------
// pg_join

namespace {

// The limits of the call the joining fiber serves, and those of the Tryton
// transaction whose coordinator `txn` is (its deadline may be earlier).
void obey_call_limits(pg_data_manager& dm, const tpc::coordinator& txn) {
    const auto& call = fiber_state().call();
    deadline until = call.deadline;
    std::shared_ptr<cancellation> cancel = call.cancel;
    for (const auto& started : fiber_state().stack()) {
        if (!started->started() || &started->coordinator() != &txn) continue;
        until = earliest(until, started->deadline());
        if (started->call_cancellation()) cancel = started->call_cancellation();
    }
    dm.set_call_limits(until, std::move(cancel));
}

}  // namespace

connection& pg_join(const std::string& dsn, tpc::coordinator& txn, const std::vector<pg_notification>& notify) {
    for (const auto& joined : txn.resources()) {
        auto* dm = dynamic_cast<pg_data_manager*>(joined.get());
        if (dm && dm->owns_connection() && dm->dsn() == dsn && dm->state() == pg_data_manager::phase::active) {
            dm->add_notifications(notify);
            return dm->user_connection();
        }
    }
    auto parsed = pg_participant_dsn::parse(dsn);
    auto conn = std::make_unique<pg_connection>(parsed.conninfo, parsed.participant_id, participant_settings());
    require_prepared_transactions(*conn, parsed.participant_id);
    auto dm = std::make_shared<pg_data_manager>(dsn, std::move(parsed), std::move(conn), txn.new_gid());
    dm->add_notifications(notify);
    obey_call_limits(*dm, txn);
    // Join first: a failing join leaves nothing begun (the connection closes with dm).
    auto registered = txn.join(dm);
    if (registered != dm) misuse("pg_join: the transaction returned another data manager");
    dm->begin_branch();
    return dm->user_connection();
}

connection& pg_join(const std::string& dsn, atrium::transaction& txn, const std::vector<pg_notification>& notify) {
    if (!txn.started()) throw std::logic_error("pg_join: the transaction is not started");
    return pg_join(dsn, txn.coordinator(), notify);
}

connection& pg_join(const std::string& dsn, const std::vector<pg_notification>& notify) {
    return pg_join(dsn, atrium::current(), notify);
}

void pg_join(connection& conn, tpc::coordinator& txn, const std::vector<pg_notification>& notify) {
    auto* pg = dynamic_cast<pg_connection*>(&conn);
    if (!pg) {
        misuse("pg_join needs a PostgreSQL connection, not a " + std::string(conn.backend_name()) + " one", {},
               "0A000");
    }
    for (const auto& joined : txn.resources()) {
        auto* dm = dynamic_cast<pg_data_manager*>(joined.get());
        if (dm && dm->raw_connection() == pg && dm->state() == pg_data_manager::phase::active) {
            dm->add_notifications(notify);
            return;
        }
    }
    if (!pg->is_open()) misuse("pg_join: the connection is closed", {}, "08003");
    if (pg->in_transaction()) {
        misuse("pg_join: the connection must be idle (no transaction, no autocommit session) to take part in "
               "two-phase commit",
               "BEGIN", "25001");
    }
    auto rows = pg->execute(
        "SELECT current_setting('max_prepared_transactions'), current_database(), current_user, "
        "host(inet_server_addr()), current_setting('port'), current_setting('unix_socket_directories')");
    const auto& row = rows.rows.at(0);
    std::string host = text_of(row.at(3));
    if (host.empty()) {
        std::string dirs = text_of(row.at(5));
        host = percent_encode(dirs.substr(0, dirs.find(',')));
    } else if (host.find(':') != std::string::npos) {
        host = "[" + host + "]";
    }
    const std::string participant = "postgresql://" + percent_encode(text_of(row.at(2))) + "@" + host + ":" +
                                    text_of(row.at(4)) + "/" + percent_encode(text_of(row.at(1)));
    if (text_of(row.at(0)) == "0") refuse_disabled(participant);

    auto dm = std::make_shared<pg_data_manager>(*pg, participant, txn.new_gid());
    dm->add_notifications(notify);
    obey_call_limits(*dm, txn);
    auto registered = txn.join(dm);
    if (registered != dm) misuse("pg_join: the transaction returned another data manager");
    dm->begin_branch();
}

void pg_join(connection& conn, atrium::transaction& txn, const std::vector<pg_notification>& notify) {
    if (!txn.started()) throw std::logic_error("pg_join: the transaction is not started");
    pg_join(conn, txn.coordinator(), notify);
}

void pg_join(connection& conn, const std::vector<pg_notification>& notify) {
    pg_join(conn, atrium::current(), notify);
}

}  // namespace atrium::db
