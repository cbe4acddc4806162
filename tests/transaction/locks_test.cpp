// SPEC §4: lock requests, TransactionError.fix, start-up locks and the dispatcher retry loop.

#include "database/errors.hpp"
#include "tests/support/test_database.hpp"
#include "transaction/errors.hpp"
#include "transaction/retry.hpp"
#include "transaction/tpc_identity.hpp"

#include <doctest/doctest.h>

using namespace atrium;
using atrium::test::test_database;
using nlohmann::json;

namespace {

/// Records the fiber's sleeps instead of blocking; can run an action on each.
struct recording_waiter final : fiber::waiter {
    std::vector<std::chrono::nanoseconds> sleeps;
    std::function<void()> on_sleep;
    void sleep_for(std::chrono::nanoseconds d) override {
        sleeps.push_back(d);
        if (on_sleep) on_sleep();
    }
    void yield() override {}
    // A waker that records the wait and returns at once, not woken (as if the
    // timeout had passed): a writer queued behind another gives up.
    std::vector<std::chrono::nanoseconds> waker_waits;
    struct recording_waker final : db::waker {
        recording_waiter& owner;
        explicit recording_waker(recording_waiter& o) : owner(o) {}
        bool wait(std::chrono::nanoseconds timeout) override {
            owner.waker_waits.push_back(timeout);
            return false;
        }
        void wake() noexcept override {}
    };
    std::shared_ptr<db::waker> make_waker() override { return std::make_shared<recording_waker>(*this); }
};

db::operational_error busy_error() {
    return db::operational_error("database is locked", db::error_category::retryable, "SQLITE_BUSY", 5);
}

}  // namespace

TEST_CASE("§4.1 lock_table without a start-up lock raises TableLockRequired; fix() asks for it") {
    test_database f;
    auto scope = begin(f.db, 1);
    json extras = json::object();
    try {
        scope->lock_table("note");
        FAIL("lock_table did not raise");
    } catch (const table_lock_required& error) {
        CHECK(error.table() == "note");
        error.fix(extras);
    }
    CHECK(extras == json{{"_lock_tables", {"note"}}});
}

TEST_CASE("§4.1 lock_records raises RecordLockRequired for the missing ids only") {
    test_database f;
    transaction_options options;
    options.extras = {{"_lock_records", {{"note", {1, 2}}}}};
    auto scope = begin(f.db, 1, options);
    CHECK_NOTHROW(scope->lock_records("note", {1, 2}));
    json extras = options.extras;
    try {
        scope->lock_records("note", {2, 3, 4, 3});
        FAIL("lock_records did not raise");
    } catch (const record_lock_required& error) {
        CHECK(error.ids() == std::vector<std::int64_t>{3, 4});
        error.fix(extras);
    }
    CHECK(extras == json{{"_lock_records", {{"note", {1, 2, 3, 4}}}}});
}

TEST_CASE("§4.1 a table locked at start covers its records") {
    test_database f;
    transaction_options options;
    options.extras = {{"_lock_tables", {"note"}}};
    auto scope = begin(f.db, 1, options);
    CHECK_NOTHROW(scope->lock_table("note"));
    CHECK_NOTHROW(scope->lock_records("note", {1, 2, 3}));
}

TEST_CASE("§4.1 fixes accumulate across retries and create containers on demand") {
    json extras;  // null: created on demand
    table_lock_required("a").fix(extras);
    table_lock_required("b").fix(extras);
    table_lock_required("a").fix(extras);
    record_lock_required("r", {1}).fix(extras);
    record_lock_required("r", {2}).fix(extras);
    transaction_error("base").fix(extras);  // the base fix is a no-op
    CHECK(extras == json{{"_lock_tables", {"a", "b"}}, {"_lock_records", {{"r", {1, 2}}}}});
}

TEST_CASE("§4.3 a TransactionError is fixed and the retry starts with the lock, count unchanged") {
    test_database f;
    int calls = 0;
    retry_report report;
    auto result = call_with_retry(
        f.db, 1, {},
        [&](transaction& txn) {
            ++calls;
            txn.connection().execute("INSERT INTO note (text) VALUES (?)", {std::string("attempt ") + std::to_string(calls)});
            txn.lock_table("note");
            return json(calls);
        },
        &report);
    CHECK(result == 2);
    CHECK(report.fixes == 1);
    CHECK(report.retries == 0);
    CHECK(report.extras == json{{"_lock_tables", {"note"}}});
    // The first attempt was rolled back.
    CHECK(f.committed_notes() == std::vector<std::string>{"attempt 2"});
}

TEST_CASE("§4.3 TransactionError retries are bounded") {
    test_database f;
    // Real tables: PostgreSQL locks them at the start of the retries.
    for (const char* table : {"t1", "t2", "t3", "t4"}) f.execute(std::string("CREATE TABLE ") + table + " (id INTEGER)");
    int calls = 0;
    retry_options options;
    options.max_fixes = 3;
    CHECK_THROWS_AS(call_with_retry(f.db, 1, options,
                                    [&](transaction& txn) -> json {
                                        // Each attempt wants a lock it was never asked for.
                                        txn.lock_table("t" + std::to_string(++calls));
                                        return nullptr;
                                    }),
                    table_lock_required);
    CHECK(calls == 4);
    CHECK(fiber_state().stack().empty());
}

TEST_CASE("§4.3 retryable database errors are retried with growing back-off, then propagate") {
    test_database f;
    recording_waiter waiter;
    fiber::context context(&waiter);
    fiber::context_scope installed(context);
    int calls = 0;
    retry_options options;
    options.retry = 3;
    CHECK_THROWS_AS(call_with_retry(f.db, 1, options,
                                    [&](transaction&) -> json {
                                        ++calls;
                                        fiber_state().tasks().push_back(calls);
                                        throw busy_error();
                                    }),
                    db::operational_error);
    CHECK(calls == 4);
    using std::chrono::milliseconds;
    CHECK(waiter.sleeps == std::vector<std::chrono::nanoseconds>{milliseconds(20), milliseconds(40), milliseconds(60)});
    // Tasks queued by failed attempts are dropped on every retry.
    CHECK(fiber_state(context).tasks() == std::vector<std::int64_t>{4});
}

TEST_SUITE(ATRIUM_SQLITE_ONLY) {

TEST_CASE("§4.3 a retry after a busy start succeeds once the writer is gone") {
    test_database f;
    (void)tpc::database_id(f.db);  // made at the first writing transaction: beforehand, out of the count
    recording_waiter waiter;
    fiber::context context(&waiter);
    fiber::context_scope installed(context);
    auto blocker = f.db->acquire();
    blocker->begin({});
    blocker->execute("INSERT INTO note (text) VALUES ('blocker')");
    // BEGIN IMMEDIATE queues behind the writer of this process, gives up with a
    // retryable error; the retry loop's first back-off (25 ms) lets the writer commit.
    waiter.on_sleep = [&] {
        if (blocker && waiter.sleeps.back() >= std::chrono::milliseconds(25)) {
            blocker->commit();
            blocker.return_to_pool();
        }
    };
    retry_report report;
    retry_options options;
    options.backoff = std::chrono::milliseconds(25);
    call_with_retry(
        f.db, 1, options,
        [](transaction& txn) {
            txn.connection().execute("INSERT INTO note (text) VALUES ('retried')");
            return json();
        },
        &report);
    CHECK(report.retries == 1);
    // The wait for the write lock (held in this process) went through the fiber's waker.
    CHECK(waiter.waker_waits.size() == 1);
    CHECK(f.committed_notes() == std::vector<std::string>{"blocker", "retried"});
}

}  // TEST_SUITE(sqlite-only)

TEST_SUITE(ATRIUM_POSTGRESQL_ONLY) {

TEST_CASE("§4.3 a fixed table lock that another connection holds is retried at start until it is released") {
    test_database f;
    recording_waiter waiter;
    fiber::context context(&waiter);
    fiber::context_scope installed(context);
    auto blocker = f.db->acquire();
    blocker->begin({});
    blocker->execute("INSERT INTO note (text) VALUES ('blocker')");
    blocker->lock_table("note");
    // The first attempt asks for the lock (a fix, no sleep); the next ones start
    // with LOCK TABLE ... NOWAIT, which fails (55P03) while the blocker holds
    // the table; the start-up retry's second back-off lets the blocker commit.
    waiter.on_sleep = [&] {
        if (blocker && waiter.sleeps.size() == 2) {
            blocker->commit();
            blocker.return_to_pool();
        }
    };
    retry_report report;
    call_with_retry(
        f.db, 1, {},
        [](transaction& txn) {
            txn.lock_table("note");
            txn.connection().execute("INSERT INTO note (text) VALUES ('retried')");
            return json();
        },
        &report);
    CHECK(report.fixes == 1);
    CHECK(report.retries == 0);
    using std::chrono::milliseconds;
    CHECK(waiter.sleeps == std::vector<std::chrono::nanoseconds>{milliseconds(100), milliseconds(80)});
    CHECK(f.committed_notes() == std::vector<std::string>{"blocker", "retried"});
}

TEST_CASE("§4.2 a start-up record lock that another connection holds fails retryable once the retries are spent") {
    test_database f;
    recording_waiter waiter;
    fiber::context context(&waiter);
    fiber::context_scope installed(context);
    f.execute("INSERT INTO note (id, text) VALUES (1, 'locked'), (2, 'free')");
    auto blocker = f.db->acquire();
    blocker->begin({});
    blocker->execute("SELECT id FROM note WHERE id = 1 FOR UPDATE");
    transaction_options options;
    options.extras = {{"_lock_records", {{"note", {1, 2}}}}};
    options.lock_retries = 1;
    try {
        auto scope = begin(f.db, 1, options);
        FAIL("the record lock was taken");
    } catch (const db::operational_error& e) {
        CHECK(e.is_retryable());
        CHECK(e.code() == "55P03");
    }
    CHECK(waiter.sleeps.size() == 1);
    CHECK(fiber_state().stack().empty());
    CHECK(f.db->in_use() == 1);  // the blocker only
    // Another id is free; once the blocker is gone, both can be locked.
    {
        transaction_options free_only;
        free_only.extras = {{"_lock_records", {{"note", {2}}}}};
        auto scope = begin(f.db, 1, free_only);
        CHECK(scope->locked_records().at("note") == std::set<std::int64_t>{2});
    }
    blocker->rollback();
    blocker.return_to_pool();
    auto scope = begin(f.db, 1, options);
    CHECK(scope->locked_records().at("note") == std::set<std::int64_t>{1, 2});
}

}  // TEST_SUITE(postgresql-only)

TEST_CASE("§4.3 read-only calls are not retried on database errors") {
    test_database f;
    int calls = 0;
    retry_options options;
    options.start.readonly = true;
    CHECK_THROWS_AS(call_with_retry(f.db, 1, options,
                                    [&](transaction&) -> json {
                                        ++calls;
                                        throw busy_error();
                                    }),
                    db::operational_error);
    CHECK(calls == 1);
}

TEST_CASE("§4.3 timeouts and in-doubt errors are never retried") {
    test_database f;
    int calls = 0;
    CHECK_THROWS_AS(call_with_retry(f.db, 1, {},
                                    [&](transaction&) -> json {
                                        ++calls;
                                        throw db::timeout_error("canceling statement due to statement timeout",
                                                                db::error_category::timeout, "57014");
                                    }),
                    db::timeout_error);
    CHECK_THROWS_AS(call_with_retry(f.db, 1, {},
                                    [&](transaction&) -> json {
                                        ++calls;
                                        throw db::in_doubt_error("connection lost during COMMIT",
                                                                 db::error_category::in_doubt, "08006");
                                    }),
                    db::in_doubt_error);
    CHECK(calls == 2);
}

TEST_CASE("§4.3 return_result rolls back and answers with its value") {
    test_database f;
    auto result = call_with_retry(f.db, 1, {}, [](transaction& txn) -> json {
        txn.connection().execute("INSERT INTO note (text) VALUES ('undone')");
        throw return_result(json{{"ok", true}});
    });
    CHECK(result == json{{"ok", true}});
    CHECK(f.committed_notes().empty());
}

namespace {

// SQLite takes no table locks (BEGIN IMMEDIATE already holds the database), so
// "lock not available" cannot happen there; this wrapper around the real
// SQLite connection reports it for the first `failures` lock_table calls, as
// PostgreSQL's NOWAIT would (SQLSTATE 55P03). The PostgreSQL issue adds the
// real-server test.
struct contended_connection final : db::connection {
    db::pooled_connection real;
    int* failures;
    std::vector<std::string>* log;
    contended_connection(db::pooled_connection r, int* f, std::vector<std::string>* l)
        : real(std::move(r)), failures(f), log(l) {}
    void begin(const db::begin_options& o) override { log->push_back("begin"); real->begin(o); }
    bool in_transaction() const override { return real->in_transaction(); }
    bool readonly() const override { return real->readonly(); }
    db::result execute(std::string_view sql, const std::vector<db::value>& p) override { return real->execute(sql, p); }
    void commit() override { real->commit(); }
    void rollback() override { log->push_back("rollback"); real->rollback(); }
    void savepoint(std::string_view n) override { real->savepoint(n); }
    void release_savepoint(std::string_view n) override { real->release_savepoint(n); }
    void rollback_to_savepoint(std::string_view n) override { real->rollback_to_savepoint(n); }
    void lock_table(std::string_view table) override {
        log->push_back("lock " + std::string(table));
        if (*failures > 0) {
            --*failures;
            throw db::operational_error("could not obtain lock on relation", db::error_category::retryable, "55P03");
        }
        real->lock_table(table);
    }
    void lock_records(std::string_view t, const std::vector<std::int64_t>& ids) override { real->lock_records(t, ids); }
    void close() noexcept override { real->close(); }
    bool is_open() const override { return real->is_open(); }
    std::string_view backend_name() const override { return real->backend_name(); }
};

struct contended_database final : db::database {
    std::shared_ptr<db::database> real;
    int failures = 0;
    std::vector<std::string> log;
    explicit contended_database(std::shared_ptr<db::database> r) : real(std::move(r)) {}
    const std::string& name() const override { return real->name(); }
    std::string_view backend_name() const override { return real->backend_name(); }
    // Gives a wrapper's real connection back to the real database's pool.
    struct unwrapping_pool final : db::connection_pool {
        void give_back(std::unique_ptr<db::connection> conn, bool discard) noexcept override {
            auto& real = static_cast<contended_connection&>(*conn).real;
            if (discard) real.discard();
            else real.return_to_pool();
        }
    };
    std::shared_ptr<unwrapping_pool> pool = std::make_shared<unwrapping_pool>();
    db::pooled_connection acquire() override {
        return db::pooled_connection(std::make_unique<contended_connection>(real->acquire(), &failures, &log),
                                     pool);
    }
    std::size_t in_use() const override { return real->in_use(); }
    std::size_t idle() const override { return real->idle(); }
};

}  // namespace

TEST_CASE("§4.2 a start-up lock that is not available is retried with decreasing back-off") {
    test_database f;
    recording_waiter waiter;
    fiber::context context(&waiter);
    fiber::context_scope installed(context);
    auto db = std::make_shared<contended_database>(f.db);
    (void)tpc::database_id(db);  // made at the first writing transaction: beforehand, out of the log
    db->log.clear();
    db->failures = 2;
    transaction_options options;
    options.extras = {{"_lock_tables", {"note"}}};
    options.lock_retries = 5;
    {
        auto scope = begin(db, 1, options);
        CHECK(scope->locked_tables() == std::set<std::string>{"note"});
    }
    using std::chrono::milliseconds;
    CHECK(waiter.sleeps == std::vector<std::chrono::nanoseconds>{milliseconds(100), milliseconds(80)});
    CHECK(db->log == std::vector<std::string>{"begin", "lock note", "rollback", "begin", "lock note", "rollback",
                                              "begin", "lock note"});
}

TEST_CASE("§4.2 when start-up lock retries are exhausted the error propagates and nothing is left") {
    test_database f;
    recording_waiter waiter;
    fiber::context context(&waiter);
    fiber::context_scope installed(context);
    auto db = std::make_shared<contended_database>(f.db);
    db->failures = 100;
    transaction_options options;
    options.extras = {{"_lock_tables", {"note"}}};
    options.lock_retries = 2;
    CHECK_THROWS_AS(begin(db, 1, options), db::operational_error);
    CHECK(waiter.sleeps.size() == 2);
    CHECK(fiber_state(context).stack().empty());
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("§1.5 tasks are drained last queued first") {
    fiber::context context;
    fiber::context_scope installed(context);
    fiber_state(context).tasks() = {1, 2, 3};
    std::vector<std::int64_t> ran;
    drain_tasks([&](std::int64_t id) { ran.push_back(id); });
    CHECK(ran == std::vector<std::int64_t>{3, 2, 1});
    CHECK(fiber_state(context).tasks().empty());
}
