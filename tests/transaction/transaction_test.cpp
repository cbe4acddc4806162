// SPEC §1.1–§1.3 and §1.5: the transaction stack, start and stop, on a real SQLite file.

#include "database/errors.hpp"
#include "database/sqlite/sqlite_backend.hpp"
#include "tests/support/log_dm.hpp"
#include "tests/support/test_database.hpp"
#include "transaction/errors.hpp"
#include "transaction/transaction.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <future>
#include <chrono>
#include <thread>

using namespace atrium;
using atrium::test::log_dm;
using atrium::test::test_database;

namespace {

void insert_note(transaction& txn, const std::string& text) {
    txn.connection().execute("INSERT INTO note (text) VALUES (?)", {text});
}

std::size_t stack_size() { return fiber_state().stack().size(); }

}  // namespace

TEST_CASE("§1.1.3 current() on an empty stack throws and never creates a transaction") {
    REQUIRE(stack_size() == 0);
    CHECK(current_or_null() == nullptr);
    CHECK_THROWS_AS(current(), no_transaction);
    CHECK(stack_size() == 0);
}

TEST_CASE("§1.1.3 begin pushes a started transaction; the scope's end pops it") {
    test_database f;
    {
        auto scope = begin(f.db, 7, {.context = {{"a", 1}}});
        REQUIRE(stack_size() == 1);
        CHECK(&current() == &scope.get());
        CHECK(current().started());
        CHECK(current().user() == 7);
        CHECK(current().database() == f.db);
        CHECK(current().context() == nlohmann::json{{"a", 1}});
    }
    CHECK(stack_size() == 0);
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("§1.1.3 a failed start pops the transaction, returns its connection and propagates") {
    test_database f;
    transaction_options options;
    options.extras = {{"_lock_tables", {"not a table name; DROP"}}};
    CHECK_THROWS_AS(begin(f.db, 1, options), db::database_error);
    CHECK(stack_size() == 0);
    CHECK(f.db->in_use() == 0);
}

TEST_CASE("§1.1.3 new_transaction copies database, user, context and close but not readonly or timeout") {
    test_database f;
    auto outer = begin(f.db, 5, {.readonly = true, .context = {{"k", "v"}}, .close = true, .timeout = std::chrono::seconds(3)});
    {
        auto inner = new_transaction();
        CHECK(stack_size() == 2);
        CHECK(&current() == &inner.get());
        CHECK(inner->database() == f.db);
        CHECK(inner->user() == 5);
        CHECK(inner->context() == nlohmann::json{{"k", "v"}});
        CHECK(inner->close());
        CHECK_FALSE(inner->readonly());
        CHECK_FALSE(inner->timeout().has_value());
        CHECK(&inner->connection() != &outer->connection());
        CHECK(f.db->in_use() == 2);
    }
    CHECK(stack_size() == 1);
}

TEST_CASE("§1.1.3 new_transaction commits independently of the outer transaction") {
    test_database f;
    try {
        auto outer = begin(f.db, 1, {.readonly = true});
        {
            auto inner = new_transaction();
            insert_note(*inner, "independent");
        }
        CHECK(f.committed_notes() == std::vector<std::string>{"independent"});
        throw std::runtime_error("outer fails");
    } catch (const std::runtime_error&) {
    }
    CHECK(f.committed_notes() == std::vector<std::string>{"independent"});
}

TEST_CASE("§1.1.3 set_current_transaction pushes a reference whose end neither commits nor rolls back") {
    test_database f;
    auto outer = begin(f.db, 1);
    insert_note(*outer, "pending");
    {
        auto inner = new_transaction({.readonly = true});
        {
            auto ref = set_current_transaction(outer.get());
            CHECK(stack_size() == 3);
            CHECK(&current() == &outer.get());
        }
        CHECK(stack_size() == 2);
        CHECK(&current() == &inner.get());
    }
    CHECK(outer->started());
    CHECK(outer->connection().in_transaction());
    CHECK(f.committed_notes().empty());
    outer.close(true);
    CHECK(f.committed_notes() == std::vector<std::string>{"pending"});
}

TEST_CASE("§1.1.2 a transaction referenced twice ends only when its last reference goes") {
    test_database f;
    auto scope = begin(f.db, 1);
    insert_note(scope.get(), "twice");
    auto ref = std::make_unique<reference_scope>(set_current_transaction(scope.get()));
    scope.close(true);  // first reference: only popped
    CHECK(stack_size() == 1);
    CHECK(current().started());
    CHECK(f.committed_notes().empty());
    ref.reset();  // the last reference ends it (normal exit: commit)
    CHECK(stack_size() == 0);
    CHECK(f.committed_notes() == std::vector<std::string>{"twice"});
}

TEST_CASE("§1.1.4 removing a reference removes the topmost occurrence") {
    test_database f;
    auto a = begin(f.db, 1, {.readonly = true});
    auto b = new_transaction({.readonly = true});
    auto& stack = fiber_state().stack();
    {
        auto again = set_current_transaction(a.get());
        REQUIRE(stack.size() == 3);
    }
    REQUIRE(stack.size() == 2);
    CHECK(stack[0].get() == &a.get());
    CHECK(stack[1].get() == &b.get());
}

TEST_CASE("§1.1.5 starting a started transaction fails without touching it") {
    test_database f;
    auto scope = begin(f.db, 3, {.context = {{"x", 1}}});
    insert_note(scope.get(), "kept");
    auto* connection = &scope->connection();
    CHECK_THROWS_AS(scope->start(f.db, 9, {}), std::logic_error);
    CHECK(scope->started());
    CHECK(scope->user() == 3);
    CHECK(scope->context() == nlohmann::json{{"x", 1}});
    CHECK(&scope->connection() == connection);
    CHECK(scope->connection().in_transaction());
    scope.close(true);
    CHECK(f.committed_notes() == std::vector<std::string>{"kept"});
}

TEST_CASE("§1.2.1 started_at comes from a monotonic clock, earlier than any later start") {
    test_database f;
    auto before = transaction::monotonic_time();
    auto first = begin(f.db, 1, {.readonly = true});
    auto second = new_transaction({.readonly = true});
    CHECK(first->started_at() > before);
    CHECK(second->started_at() > first->started_at());
}

TEST_CASE("§1.2.2 start stores an immutable copy of the context and empty bookkeeping") {
    test_database f;
    nlohmann::json context = {{"language", "fr"}};
    transaction_options options;
    options.context = context;
    auto scope = begin(f.db, 2, options);
    options.context["language"] = "de";
    CHECK(scope->context()["language"] == "fr");
    CHECK(scope->language() == "fr");
    CHECK(scope->create_records.empty());
    CHECK(scope->delete_records.empty());
    CHECK(scope->trigger_records.empty());
    CHECK(scope->log_records.empty());
    CHECK(scope->check_warnings.empty());
    CHECK(scope->timestamp.empty());
    CHECK(scope->counter == 0);
    CHECK(scope->coordinator().resources().empty());
}

TEST_CASE("§1.2.3 a read-only transaction is a read-only DB transaction") {
    test_database f;
    auto scope = begin(f.db, 1, {.readonly = true});
    CHECK(scope->readonly());
    CHECK_THROWS_AS(insert_note(scope.get(), "nope"), db::programming_error);
}

TEST_SUITE(ATRIUM_SQLITE_ONLY) {

TEST_CASE("§1.2.3 a read-write transaction on SQLite takes the write lock at start") {
    test_database f;
    auto scope = begin(f.db, 1);
    auto other = f.db->acquire();
    // Nothing written yet, but another writer cannot start.
    CHECK_THROWS_AS(other->begin({}), db::operational_error);
    other.discard();
}

TEST_CASE("§3 a transaction with other participants never waits in SQLite's group commit (their locks could block the next writer)") {
    test_database f;
    auto* sqlite = dynamic_cast<db::sqlite_database*>(f.db.get());
    REQUIRE(sqlite);
    std::vector<std::string> log;
    auto txn = begin(f.db, 1);
    txn->join(std::make_shared<log_dm>("dm", log));
    insert_note(*txn, "with a participant");
    std::promise<void> queued_may_commit;
    auto may_commit = queued_may_commit.get_future();
    bool released_by_test = false;
    std::thread queued_writer([&] {
        auto c = f.db->acquire();
        c->begin({});
        // not by the 5 s guard
        released_by_test = may_commit.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
        c->commit();
        c.return_to_pool();
    });
    for (int i = 0; i < 5000 && sqlite->writers_queued() == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(sqlite->writers_queued() == 1);
    txn.close(true);  // commits without waiting for the queued writer
    CHECK(f.committed_notes() == std::vector<std::string>{"with a participant"});
    CHECK(sqlite->writers_waiting_for_commit() == 0);
    queued_may_commit.set_value();
    queued_writer.join();
    CHECK(released_by_test);
    CHECK(std::find(log.begin(), log.end(), "dm.tpc_finish") != log.end());
}

}  // TEST_SUITE(sqlite-only)

TEST_SUITE(ATRIUM_POSTGRESQL_ONLY) {

TEST_CASE("§1.2.3 a read-write transaction on PostgreSQL is REPEATABLE READ and does not lock out another writer") {
    test_database f;
    auto scope = begin(f.db, 1);
    auto setting = [&](const char* name) {
        return std::get<std::string>(scope->connection().execute(std::string("SHOW ") + name).rows.at(0).at(0));
    };
    CHECK(setting("transaction_isolation") == "repeatable read");
    CHECK(setting("transaction_read_only") == "off");
    auto count = [&] {
        return std::get<std::int64_t>(scope->connection().execute("SELECT count(*) FROM note").rows.at(0).at(0));
    };
    CHECK(count() == 0);  // the snapshot is taken here
    auto other = f.db->acquire();
    CHECK_NOTHROW(other->begin({}));
    other->execute("INSERT INTO note (text) VALUES ('other')");
    other->commit();
    other.return_to_pool();
    CHECK(f.committed_notes() == std::vector<std::string>{"other"});
    // REPEATABLE READ: the snapshot does not see the later commit.
    CHECK(count() == 0);
}

TEST_CASE("§1.2.3 a read-only transaction on PostgreSQL is a READ ONLY REPEATABLE READ DB transaction") {
    test_database f;
    auto scope = begin(f.db, 1, {.readonly = true});
    auto setting = [&](const char* name) {
        return std::get<std::string>(scope->connection().execute(std::string("SHOW ") + name).rows.at(0).at(0));
    };
    CHECK(setting("transaction_read_only") == "on");
    CHECK(setting("transaction_isolation") == "repeatable read");
}

}  // TEST_SUITE(postgresql-only)

TEST_CASE("§1.2.4 start-up extras lock tables and records") {
    test_database f;
    transaction_options options;
    options.extras = {{"_lock_tables", {"note"}}, {"_lock_records", {{"party", {1, 2}}}}};
    auto scope = begin(f.db, 1, options);
    CHECK(scope->locked_tables() == std::set<std::string>{"note"});
    CHECK(scope->locked_records().at("party") == std::set<std::int64_t>{1, 2});
}

TEST_CASE("§1.3 normal scope exit commits, exit by exception rolls back") {
    test_database f;
    { insert_note(begin(f.db, 1).get(), "committed"); }
    try {
        auto scope = begin(f.db, 1);
        insert_note(scope.get(), "rolled back");
        throw std::runtime_error("boom");
    } catch (const std::runtime_error&) {
    }
    CHECK(f.committed_notes() == std::vector<std::string>{"committed"});
}

TEST_CASE("§1.3 the callable form commits on return and rolls back on exception") {
    test_database f;
    auto id = with_transaction(f.db, 1, {}, [](transaction& txn) {
        insert_note(txn, "callable");
        return 42;
    });
    CHECK(id == 42);
    CHECK_THROWS(with_transaction(f.db, 1, {}, [](transaction& txn) {
        insert_note(txn, "lost");
        throw std::runtime_error("no");
    }));
    CHECK(f.committed_notes() == std::vector<std::string>{"callable"});
}

TEST_CASE("§1.3.2a a read-only transaction rolls back even when stopped with commit") {
    test_database f;
    std::vector<std::string> log;
    {
        auto scope = begin(f.db, 1, {.readonly = true});
        scope->join(std::make_shared<log_dm>("dm", log));
    }
    CHECK(log == std::vector<std::string>{"dm.tpc_abort"});
}

TEST_CASE("§1.3.2a after an explicit commit the end does not drive data managers again") {
    test_database f;
    std::vector<std::string> log;
    {
        auto scope = begin(f.db, 1);
        scope->join(std::make_shared<log_dm>("dm", log));
        insert_note(scope.get(), "explicit");
        scope.commit();
        CHECK(f.committed_notes() == std::vector<std::string>{"explicit"});
        CHECK(scope->coordinator().resources().empty());
    }
    CHECK(log == std::vector<std::string>{"dm.tpc_begin", "dm.commit", "dm.tpc_vote", "dm.tpc_finish"});
}

TEST_CASE("§1.3.2a after an explicit rollback the end does not drive data managers again") {
    test_database f;
    std::vector<std::string> log;
    {
        auto scope = begin(f.db, 1);
        scope->join(std::make_shared<log_dm>("dm", log));
        insert_note(scope.get(), "gone");
        scope.rollback();
    }
    CHECK(log == std::vector<std::string>{"dm.tpc_abort"});
    CHECK(f.committed_notes().empty());
}

TEST_CASE("§1.3.2b the connection goes back to the pool, or is closed with the close flag") {
    test_database f;
    { auto scope = begin(f.db, 1); }
    CHECK(f.db->in_use() == 0);
    auto pooled = f.db->idle();
    CHECK(pooled >= 1);
    { auto scope = begin(f.db, 1, {.close = true}); }
    CHECK(f.db->in_use() == 0);
    CHECK(f.db->idle() == pooled - 1);
}

TEST_CASE("§1.3.2c a stopped transaction is reset to the unstarted state") {
    test_database f;
    std::shared_ptr<transaction> kept;
    {
        auto scope = begin(f.db, 4, {.readonly = true, .context = {{"a", 1}}});
        scope->counter = 3;
        scope->create_records["m"].push_back(1);
        kept = scope.get().shared_from_this();
    }
    CHECK_FALSE(kept->started());
    CHECK(kept->user() == 0);
    CHECK_FALSE(kept->readonly());
    CHECK(kept->context().empty());
    CHECK(kept->counter == 0);
    CHECK(kept->create_records.empty());
    CHECK(kept->database() == nullptr);
    CHECK_THROWS_AS(kept->connection(), std::logic_error);
}

TEST_CASE("§1.3.2d atexit callbacks run in order after the DB transaction ended") {
    test_database f;
    std::vector<std::string> seen;
    {
        auto scope = begin(f.db, 1);
        insert_note(scope.get(), "n");
        scope->atexit([&] {
            // The commit is already visible from another connection.
            seen.push_back("first:" + std::to_string(f.committed_notes().size()));
        });
        scope->atexit([&] { seen.push_back("second"); });
        CHECK(seen.empty());
    }
    CHECK(seen == std::vector<std::string>{"first:1", "second"});
}

TEST_CASE("§1.3.2d atexit callbacks do not run when ending failed; §1.3.2e the reference is still popped") {
    test_database f;
    std::vector<std::string> log;
    bool ran = false;
    auto scope = begin(f.db, 1);
    scope->join(std::make_shared<log_dm>("dm", log, "tpc_vote"));
    insert_note(scope.get(), "never");
    scope->atexit([&] { ran = true; });
    CHECK_THROWS_WITH_AS(scope.close(true), "dm fails at tpc_vote", std::runtime_error);
    CHECK_FALSE(ran);
    CHECK(stack_size() == 0);
    CHECK(f.db->in_use() == 0);
    CHECK(f.committed_notes().empty());
}

TEST_CASE("§1.3.2e an exception from an atexit callback propagates after the pop") {
    test_database f;
    auto scope = begin(f.db, 1);
    scope->atexit([] { throw std::runtime_error("atexit failed"); });
    CHECK_THROWS_WITH(scope.close(true), "atexit failed");
    CHECK(stack_size() == 0);
}

TEST_CASE("§1.3.3 the scope destructor never throws; failures are rolled back") {
    test_database f;
    std::vector<std::string> log;
    CHECK_NOTHROW([&] {
        auto scope = begin(f.db, 1);
        scope->join(std::make_shared<log_dm>("dm", log, "tpc_vote"));
        insert_note(scope.get(), "never");
    }());
    CHECK(stack_size() == 0);
    CHECK(f.committed_notes().empty());
    CHECK(log.back() == "dm.tpc_abort");
}

TEST_CASE("§1.5 record caches are cleared on commit and rollback; commit resets started_at") {
    test_database f;
    int cleared = 0;
    auto scope = begin(f.db, 1);
    scope->add_cache_clearer([&] { ++cleared; });
    auto started = scope->started_at();
    scope.commit();
    CHECK(cleared == 1);
    CHECK(scope->started_at() > started);
    scope.rollback();
    CHECK(cleared == 2);
}

TEST_CASE("§1.4 derived properties: access_checked, active_records, language") {
    test_database f;
    {
        auto scope = begin(f.db, 1, {.default_language = "nl"});
        CHECK_FALSE(scope->access_checked());
        CHECK(scope->active_records());
        CHECK(scope->language() == "nl");
    }
    {
        auto scope = begin(f.db, 1, {.context = {{"_check_access", true}, {"active_test", false}, {"language", ""}}});
        CHECK(scope->access_checked());
        CHECK_FALSE(scope->active_records());
        CHECK(scope->language() == "en");
    }
    {
        auto scope = begin(f.db, root_user, {.context = {{"_check_access", true}}});
        CHECK_FALSE(scope->access_checked());
    }
}

TEST_CASE("§1.5 remote_address derives the client's network from the request context") {
    test_database f;
    {
        auto scope = begin(f.db, 1);
        CHECK_FALSE(scope->remote_address().has_value());
    }
    auto scope = begin(f.db, 1, {.context = {{"_request", {{"remote_addr", "192.0.2.77"}}}}});
    auto v4 = scope->remote_address(24, 56);
    REQUIRE(v4.has_value());
    CHECK(v4->ip == "192.0.2.77");
    CHECK(v4->network == "192.0.2.0/24");
    CHECK(scope->remote_address()->network == "192.0.2.77/32");
    auto v6 = make_remote_address("2001:db8:1234:5678::1", 32, 56);
    REQUIRE(v6.has_value());
    CHECK(v6->network == "2001:db8:1234:5600::/56");
    CHECK_FALSE(make_remote_address("not an ip").has_value());
}

TEST_CASE("§1.3 work after an explicit commit runs in a new DB transaction") {
    test_database f;
    try {
        auto scope = begin(f.db, 1);
        insert_note(scope.get(), "first");
        scope.commit();
        // Another writer may take the database between the two DB transactions.
        CHECK(f.committed_notes() == std::vector<std::string>{"first"});
        insert_note(scope.get(), "second");
        CHECK(scope->connection().in_transaction());
        throw std::runtime_error("fail after the commit");
    } catch (const std::runtime_error&) {
    }
    CHECK(f.committed_notes() == std::vector<std::string>{"first"});
}
