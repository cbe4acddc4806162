// PostgreSQL transactions: REPEATABLE READ, the deferred BEGIN, read-only
// COMMITs, autocommit, statement timeouts, session state; concurrency
// errors, NOWAIT locks and the retry loop.

#include "tests/database/postgresql_test_support.hpp"

using namespace atrium::db;
using namespace atrium::db::pg_test;
using namespace std::chrono_literals;
using std::chrono::steady_clock;

// ---------------------------------------------------------------------------
// Transactions

TEST_CASE("postgresql: transactions are REPEATABLE READ by default; read-only ones refuse writes") {
    pg_db f;
    pg_handle c{f.db->acquire()};
    c->begin({});
    CHECK(show(*c, "transaction_isolation") == "repeatable read");
    CHECK(show(*c, "transaction_read_only") == "off");
    // The snapshot holds: a commit by another connection is not seen.
    CHECK(c->execute("SELECT n FROM counter WHERE id = 1").rows.at(0).at(0) == value{std::int64_t{0}});
    f.execute("UPDATE counter SET n = 5 WHERE id = 1");
    CHECK(c->execute("SELECT n FROM counter WHERE id = 1").rows.at(0).at(0) == value{std::int64_t{0}});
    c->commit();

    begin_options ro;
    ro.readonly = true;
    c->begin(ro);
    CHECK(c->readonly());
    CHECK(show(*c, "transaction_isolation") == "repeatable read");
    CHECK(show(*c, "transaction_read_only") == "on");
    auto e = catch_database_error([&] { c->execute("INSERT INTO note (text) VALUES ('no')"); });
    CHECK(e.code() == "25006");
    CHECK(e.category() == error_category::programming);
    c->rollback();
    CHECK(!c->readonly());

    // Through the transaction layer too.
    {
        auto scope = atrium::begin(f.db, 0, {.readonly = true});
        CHECK(show(scope->connection(), "transaction_read_only") == "on");
        CHECK(throws_as<programming_error>(
            [&] { scope->connection().execute("UPDATE counter SET n = 0"); }));
        scope.close(false);
    }
    auto again = atrium::begin(f.db, 0);
    CHECK(show(again->connection(), "transaction_read_only") == "off");
    again.close(false);
}

TEST_CASE("postgresql: BEGIN reaches the server with the first statement; a transaction without one sends nothing") {
    pg_db f("?pool_size=1");
    pg_handle c{f.db->acquire()};
    const auto pid = c->backend_pid();
    auto be2 = open_backend(dsn());
    auto db2 = be2->open(f.name);
    pg_handle watcher{db2->acquire()};
    auto state_of_c = [&] { return activity_state(*watcher, pid); };
    c->begin({});
    CHECK(c->in_transaction());
    CHECK(state_of_c() == "idle");  // nothing sent yet
    c->execute("INSERT INTO note (text) VALUES ('one')");
    CHECK(state_of_c() == "idle in transaction");
    // Still REPEATABLE READ (the session default) and read-write.
    CHECK(show(*c, "transaction_isolation") == "repeatable read");
    c->rollback();
    CHECK(c->execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{0}});

    begin_options ro;
    ro.readonly = true;
    c->begin(ro);
    c->commit();  // no statement: nothing to send
    CHECK(state_of_c() == "idle");
    c->begin(ro);
    CHECK(show(*c, "transaction_isolation") == "repeatable read");
    CHECK(show(*c, "transaction_read_only") == "on");
    const auto e = catch_database_error([&] { c->execute("INSERT INTO note (text) VALUES ('no')"); });
    CHECK(e.code() == "25006");
    c->rollback();
    CHECK(state_of_c() == "idle");
}

TEST_CASE("postgresql: the COMMIT of a read-only transaction of plain reads is not waited for; the next one starts afresh") {
    // Every wait for the server is one round trip here (small replies come in
    // one segment), so the waits count the round trips.
    std::atomic<int> waits{0};
    const wait_hooks hooks = counting_waits(waits);
    pg_db f("?pool_size=1", hooks);
    pg_handle c{f.db->acquire()};
    const auto pid = c->backend_pid();
    auto be2 = open_backend(dsn());
    auto db2 = be2->open(f.name);
    pg_handle other{db2->acquire()};
    auto state_of_c = [&] {
        // The COMMIT was sent when commit() returned; the server may take a moment.
        std::string state;
        for (int i = 0; i < 200 && (state = activity_state(*other, pid)) != "idle"; ++i) {
            std::this_thread::sleep_for(5ms);
        }
        return state;
    };
    auto count_notes = [&] { return c->execute("SELECT count(*) FROM note").rows.at(0).at(0); };
    begin_options ro;
    ro.readonly = true;

    // A write transaction waits for its COMMIT: BEGIN + INSERT, then COMMIT.
    waits = 0;
    c->begin({});
    c->execute("INSERT INTO note (text) VALUES ('one')");
    c->commit();
    CHECK(waits == 2);

    // A read-only one: BEGIN READ ONLY + SELECT. The COMMIT is not even sent
    // yet on a pooled connection: it rides with the next round trip, or goes
    // when the pool takes the connection back.
    waits = 0;
    c->begin(ro);
    CHECK(count_notes() == value{std::int64_t{1}});
    c->commit();
    CHECK(waits == 1);
    CHECK(!c->in_transaction());
    CHECK(c->has_unsent_commit());

    // Another connection commits a row; the next transaction on c has a new
    // snapshot (REPEATABLE READ would hide the row from the old one), in one
    // round trip: COMMIT; BEGIN READ ONLY; SELECT.
    other->begin({});
    other->execute("INSERT INTO note (text) VALUES ('two')");
    other->commit();
    waits = 0;
    c->begin(ro);
    CHECK(count_notes() == value{std::int64_t{2}});
    CHECK(waits == 1);
    CHECK_FALSE(c->has_unsent_commit());
    c->commit();
    c->send_unsent_commit();  // what the pool does before a connection goes idle: no wait
    CHECK(waits == 1);
    CHECK_FALSE(c->has_unsent_commit());
    CHECK(state_of_c() == "idle");  // the server ended the transaction
    CHECK(c->looks_alive());  // takes the COMMIT's reply in; the connection stays usable
    c->begin({});
    CHECK(count_notes() == value{std::int64_t{2}});
    c->execute("INSERT INTO note (text) VALUES ('three')");
    c->commit();
    CHECK(other->execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{3}});

    // A notification is delivered (and may fail) at COMMIT: that COMMIT is
    // waited for even in a read-only transaction.
    waits = 0;
    c->begin(ro);
    c->execute("SELECT pg_notify('atrium_test', 'x')");
    c->commit();
    CHECK(waits == 2);

    // A read-only transaction whose statement failed still rolls back and
    // reports the error at commit().
    c->begin(ro);
    CHECK(catch_database_error([&] { c->execute("SELECT * FROM no_such_table"); }).code() == "42P01");
    CHECK(catch_database_error([&] { c->commit(); }).code() == "42P01");
    CHECK(state_of_c() == "idle");
}

TEST_CASE("postgresql: autocommit mode commits every statement and its settings end with it") {
    pg_db f("?pool_size=1");
    pg_handle c{f.db->acquire()};
    const auto pid = pid_of(*c);
    begin_options ac;
    ac.autocommit = true;
    ac.readonly = false;
    c->begin(ac);
    CHECK(c->in_transaction());
    c->execute("INSERT INTO note (text) VALUES ('at once')");
    {
        // Another connection sees it before commit().
        auto be2 = open_backend(dsn());
        auto db2 = be2->open(f.name);
        pg_handle o{db2->acquire()};
        CHECK(o->execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{1}});
    }
    CHECK(show(*c, "transaction_isolation") == "read committed");  // no BEGIN: the server default
    c->commit();
    CHECK(!c->in_transaction());

    // Read-only + timeout in autocommit: session settings, reset at the end.
    ac.readonly = true;
    ac.statement_timeout = 60ms;
    c->begin(ac);
    CHECK(show(*c, "default_transaction_read_only") == "on");
    CHECK(show(*c, "statement_timeout") == "60ms");
    CHECK(catch_database_error([&] { c->execute("INSERT INTO note (text) VALUES ('no')"); }).code() ==
          "25006");
    auto t = catch_database_error([&] { c->execute("SELECT pg_sleep(1)"); });
    CHECK(t.code() == "57014");
    CHECK(c->execute("SELECT 1").size() == 1);  // no aborted block in autocommit
    c->rollback();
    CHECK(pid_of(*c) == pid);
    CHECK(show(*c, "default_transaction_read_only") == "off");
    CHECK(show(*c, "statement_timeout") == "0");
}

TEST_CASE("postgresql: statement timeout is a timeout_error and never leaks to the next user") {
    pg_db f("?pool_size=1");  // one connection: every transaction gets the same one
    std::int64_t pid = 0;
    {
        auto scope = atrium::begin(f.db, 0, {.timeout = 50ms});
        pid = pid_of(scope->connection());
        CHECK(show(scope->connection(), "statement_timeout") == "50ms");
        try {
            scope->connection().execute("SELECT pg_sleep(2)");
            FAIL("no timeout");
        } catch (const timeout_error& e) {
            CHECK(e.code() == "57014");
            CHECK(e.category() == error_category::timeout);
            CHECK(!e.is_retryable());
            CHECK(e.query() == "SELECT pg_sleep(2)");
        }
        scope.close(false);
    }
    {
        auto scope = atrium::begin(f.db, 0);
        CHECK(pid_of(scope->connection()) == pid);  // the same pooled connection
        CHECK(show(scope->connection(), "statement_timeout") == "0");
        scope->connection().execute("SELECT pg_sleep(0.1)");  // not cancelled
        scope.close(true);
    }
    // call_with_retry answers a timeout at once (HTTP 408 upstream), no retry.
    atrium::retry_report report;
    int attempts = 0;
    CHECK(throws_as<timeout_error>([&] {
        atrium::retry_options options;
        options.start.timeout = 50ms;
        atrium::call_with_retry(f.db, 0, options, [&](atrium::transaction& t) {
            ++attempts;
            t.connection().execute("SELECT pg_sleep(2)");
            return nlohmann::json();
        }, &report);
    }));
    CHECK(attempts == 1);
    pg_handle c{f.db->acquire()};
    CHECK(pid_of(*c) == pid);
    CHECK(show(*c, "statement_timeout") == "0");
}

TEST_CASE("postgresql: user session settings are discarded before the next user") {
    pg_db f("?pool_size=1");
    std::int64_t pid = 0;
    {
        pg_handle c{f.db->acquire()};
        pid = pid_of(*c);
        c->begin({});
        c->execute("SET search_path TO pg_catalog");
        c->execute("SET application_name = 'leaky'");
        CHECK(c->session_state_dirty());
        c->commit();
    }
    pg_handle c{f.db->acquire()};
    CHECK(pid_of(*c) == pid);
    CHECK(!c->session_state_dirty());
    CHECK(show(*c, "search_path") == "\"$user\", public");
    CHECK(show(*c, "application_name") != "leaky");
}

TEST_CASE("postgresql: a transaction left open is rolled back when its connection goes back to the pool") {
    pg_db f("?pool_size=1");
    {
        pg_handle c{f.db->acquire()};
        c->execute("BEGIN");  // by hand: followed all the same
        CHECK(c->in_transaction());
        c->execute("INSERT INTO note (text) VALUES ('left open')");
    }
    pg_handle c{f.db->acquire()};
    CHECK(!c->in_transaction());
    CHECK(c->execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{0}});
}

// ---------------------------------------------------------------------------
// Concurrency errors and the retry loop

TEST_CASE("postgresql: two transactions updating one row: serialization failure 40001, retryable; the retry loop then succeeds") {
    pg_db f;
    {
        pg_handle a{f.db->acquire()};
        pg_handle b{f.db->acquire()};
        a->begin({});
        CHECK(a->execute("SELECT n FROM counter WHERE id = 1").rows.at(0).at(0) == value{std::int64_t{0}});
        b->begin({});
        b->execute("UPDATE counter SET n = n + 1 WHERE id = 1");
        b->commit();
        try {
            a->execute("UPDATE counter SET n = n + 1 WHERE id = 1");
            FAIL("no serialization failure");
        } catch (const operational_error& e) {
            CHECK(e.code() == "40001");
            CHECK(e.category() == error_category::retryable);
            CHECK(e.is_retryable());
            CHECK(contains(e.what(), "could not serialize access"));
        }
        a->rollback();
    }

    // The same conflict inside call_with_retry: the first attempt fails, the second commits.
    int attempts = 0;
    atrium::retry_report report;
    atrium::retry_options options;
    options.backoff = 1ms;
    const auto result = atrium::call_with_retry(
        f.db, 0, options,
        [&](atrium::transaction& t) {
            ++attempts;
            auto& c = t.connection();
            c.execute("SELECT n FROM counter WHERE id = 1");  // takes the snapshot
            if (attempts == 1) {
                pg_handle other{f.db->acquire()};  // a concurrent writer commits after our snapshot
                other->begin({});
                other->execute("UPDATE counter SET n = n + 10 WHERE id = 1");
                other->commit();
            }
            c.execute("UPDATE counter SET n = n + 1 WHERE id = 1");
            return nlohmann::json(attempts);
        },
        &report);
    CHECK(result == 2);
    CHECK(report.retries == 1);
    CHECK(f.execute("SELECT n FROM counter WHERE id = 1").rows.at(0).at(0) == value{std::int64_t{12}});
}

TEST_CASE("postgresql: a deadlock is classified 40P01, retryable (two fibers, one thread)") {
    pg_db f;
    std::vector<database_error> errors;
    int committed = 0;
    auto worker = [&](std::int64_t first, std::int64_t second) {
        return [&, first, second] {
            auto conn = f.db->acquire();
            conn->begin({});
            conn->execute("SET LOCAL deadlock_timeout = '50ms'");
            conn->execute("UPDATE counter SET n = n + 1 WHERE id = ?", {first});
            atrium::fiber::current().sleep_for(50ms);  // the other fiber takes its first row
            try {
                conn->execute("UPDATE counter SET n = n + 1 WHERE id = ?", {second});
                conn->commit();
                ++committed;
            } catch (const database_error& e) {
                errors.push_back(e);
                conn->rollback();
            }
            conn.return_to_pool();
        };
    };
    run_fibers({worker(1, 2), worker(2, 1)});
    REQUIRE(errors.size() == 1);
    CHECK(committed == 1);
    CHECK(errors[0].code() == "40P01");
    CHECK(errors[0].is_retryable());
    CHECK(contains(errors[0].what(), "deadlock"));
}

TEST_CASE("postgresql: lock_table raises TransactionError, is fixed, and the retry starts with the table locked (NOWAIT 55P03 for others)") {
    pg_db f;
    int attempts = 0;
    atrium::retry_report report;
    atrium::call_with_retry(
        f.db, 0, {},
        [&](atrium::transaction& t) {
            ++attempts;
            t.lock_table("note");  // attempt 1: table_lock_required; fixed into the extras
            CHECK(attempts == 2);
            // The retry took the lock at start.
            const auto mode = t.connection().execute(
                "SELECT mode FROM pg_locks WHERE relation = 'note'::regclass AND pid = pg_backend_pid()");
            REQUIRE(mode.size() == 1);
            CHECK(mode.rows[0][0] == value{std::string("ExclusiveLock")});
            // A second connection trying the same lock does not wait: 55P03, retryable.
            pg_handle other{f.db->acquire()};
            other->begin({});
            auto e = catch_database_error([&] { other->lock_table("note"); });
            CHECK(e.code() == "55P03");
            CHECK(e.is_retryable());
            CHECK(contains(e.what(), "could not obtain lock"));
            other->rollback();
            t.connection().execute("INSERT INTO note (text) VALUES ('locked')");
            return nlohmann::json();
        },
        &report);
    CHECK(attempts == 2);
    CHECK(report.fixes == 1);
    CHECK(report.retries == 0);
    CHECK(report.extras["_lock_tables"] == nlohmann::json::array({"note"}));
    CHECK(f.execute("SELECT count(*) FROM note").rows.at(0).at(0) == value{std::int64_t{1}});
}

TEST_CASE("postgresql: lock_records is FOR UPDATE NOWAIT; a held lock makes the start fail after its retries") {
    pg_db f;
    pg_handle holder{f.db->acquire()};
    holder->begin({});
    holder->lock_records("counter", {1});
    holder->lock_records("counter", {});  // nothing to lock
    {
        pg_handle other{f.db->acquire()};
        other->begin({});
        other->lock_records("counter", {2});  // another row: free
        auto e = catch_database_error([&] { other->lock_records("counter", {2, 1}); });
        CHECK(e.code() == "55P03");
        CHECK(e.is_retryable());
        other->rollback();
        CHECK(throws_as<programming_error>([&] { other->lock_table("note; DROP TABLE note"); }));
    }
    // Start-time locks (SPEC §4.2): retried lock_retries times, then the error propagates.
    atrium::transaction_options options;
    options.extras = {{"_lock_records", {{"counter", {1}}}}};
    options.lock_retries = 2;
    options.lock_backoff = 1ms;
    auto e = catch_database_error([&] { auto scope = atrium::begin(f.db, 0, options); });
    CHECK(e.code() == "55P03");
    holder->rollback();
    // Free now: the start succeeds and holds the row.
    auto scope = atrium::begin(f.db, 0, options);
    CHECK(scope->locked_records().at("counter") == std::set<std::int64_t>{1});
    scope.close(false);
}

TEST_CASE("postgresql: a start-lock retry waits (bounded lock_timeout) for a lock held elsewhere instead of failing NOWAIT") {
    pg_db f;
    pg_handle holder{f.db->acquire()};
    holder->begin({});
    holder->lock_table("note");
    // The holder lets go after 300 ms, longer than every NOWAIT retry's back-off.
    std::thread release([&] {
        std::this_thread::sleep_for(300ms);
        holder->rollback();
    });
    atrium::transaction_options options;
    options.extras = {{"_lock_tables", {"note"}}};
    options.lock_retries = 1;
    options.lock_backoff = 1ms;
    options.lock_retry_wait = 5000ms;  // one retry: it waits all of it
    const auto start = std::chrono::steady_clock::now();
    std::optional<atrium::transaction_scope> scope;
    CHECK_NOTHROW(scope.emplace(atrium::begin(f.db, 0, options)));
    release.join();
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);
    if (scope) {
        CHECK((*scope)->locked_tables().count("note") == 1);
        // The wait applied to the start-time locks only: later statements have no lock_timeout.
        CHECK((*scope)->connection().execute("SHOW lock_timeout").rows.at(0).at(0) == value{std::string("0")});
        scope->close(false);
    }
    // Still bounded: a lock that stays held fails after the wait.
    pg_handle keeper{f.db->acquire()};
    keeper->begin({});
    keeper->lock_table("note");
    options.lock_retry_wait = 100ms;
    auto e = catch_database_error([&] { auto again = atrium::begin(f.db, 0, options); });
    CHECK(e.code() == "55P03");
    keeper->rollback();
}
