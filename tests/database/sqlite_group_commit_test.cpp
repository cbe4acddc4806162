// Group commit on SQLite: writers of one process that queue for the write turn
// share one COMMIT, yet each commit returns only once it is durable, and a
// rollback or an error of one writer leaves the others' work as it should be.
#include "database/database.hpp"
#include "database/errors.hpp"
#include "database/sqlite/sqlite_backend.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace atrium::db;
using namespace std::chrono_literals;

namespace {

struct fixture {
    atrium::test::temp_dir dir;
    std::unique_ptr<backend> be;
    std::shared_ptr<database> db;

    fixture() {
        wait_hooks hooks;
        hooks.make_waker = [] { return make_thread_waker(); };
        be = open_backend("sqlite://" + dir.path().string() + "?busy_wait_ms=5000", hooks);
        be->create("test");
        db = be->open("test");
        auto c = db->acquire();
        c->execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)");
        c->execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)");
        c->execute("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER "
                   "REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)");
        c.return_to_pool();
    }

    sqlite_database& sqlite() { return dynamic_cast<sqlite_database&>(*db); }

    /// The names in t, read by a read-only transaction of its own (committed data only).
    std::vector<std::string> committed_names() {
        auto c = db->acquire();
        begin_options read_only;
        read_only.readonly = true;
        c->begin(read_only);
        auto r = c->execute("SELECT name FROM t ORDER BY name");
        c->commit();
        c.return_to_pool();
        std::vector<std::string> names;
        for (auto& row : r.rows) names.push_back(std::get<std::string>(row.at(0)));
        return names;
    }

    void wait_until(const auto& condition) {
        const auto until = std::chrono::steady_clock::now() + 5s;
        while (!condition() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
        REQUIRE(condition());
    }
};

int count_commit(void* counter) {
    ++*static_cast<std::atomic<int>*>(counter);
    return 0;  // let the COMMIT go on
}

// A SQL function that interrupts its own connection: SQLite then rolls back the
// whole transaction of an INSERT that calls it.
void interrupt_own_connection(sqlite3_context* ctx, int, sqlite3_value**) {
    sqlite3_interrupt(sqlite3_context_db_handle(ctx));
    sqlite3_result_int(ctx, 1);
}

}  // namespace

TEST_CASE("sqlite group commit: a commit made while another writer queues waits for it and shares its one COMMIT") {
    fixture f;
    auto first = f.db->acquire();
    first->begin({});
    first->execute("INSERT INTO t (name) VALUES ('a')");

    std::atomic<int> commits{0};
    std::atomic<bool> second_committed{false};
    std::thread second_writer([&] {
        auto second = f.db->acquire();
        second->begin({});  // queues behind `first`
        // It sees the first one's row: they run in one SQLite transaction.
        auto r = second->execute("SELECT count(*) FROM t");
        CHECK(std::get<std::int64_t>(r.rows.at(0).at(0)) == 1);
        second->execute("INSERT INTO t (name) VALUES ('b')");
        f.wait_until([&] { return f.sqlite().writers_waiting_for_commit() == 1; });
        // The first one's commit has not returned and is not visible yet.
        CHECK(f.committed_names().empty());
        auto* handle = dynamic_cast<sqlite_connection&>(*second).native_handle();
        sqlite3_commit_hook(handle, &count_commit, &commits);
        second_committed = true;
        second->commit();
        sqlite3_commit_hook(handle, nullptr, nullptr);
        second.return_to_pool();
    });
    f.wait_until([&] { return f.sqlite().writers_queued() == 1; });
    first->commit();  // returns once the second one's COMMIT made both durable
    CHECK(second_committed);
    second_writer.join();
    CHECK(commits == 1);
    CHECK(f.committed_names() == std::vector<std::string>{"a", "b"});
    CHECK_FALSE(first->in_transaction());
    first.return_to_pool();
    CHECK(f.sqlite().writers_waiting_for_commit() == 0);
}

TEST_CASE("sqlite group commit: a writer's rollback undoes only its own work; the waiting commit still lands") {
    fixture f;
    auto first = f.db->acquire();
    first->begin({});
    first->execute("INSERT INTO t (name) VALUES ('a')");
    std::thread second_writer([&] {
        auto second = f.db->acquire();
        second->begin({});
        second->execute("INSERT INTO t (name) VALUES ('b')");
        second->savepoint("inner");
        second->execute("INSERT INTO t (name) VALUES ('c')");
        f.wait_until([&] { return f.sqlite().writers_waiting_for_commit() == 1; });
        // A constraint error fails the statement only.
        CHECK_THROWS_AS(second->execute("INSERT INTO t (name) VALUES ('a')"), integrity_error);
        second->rollback();
        CHECK_FALSE(second->in_transaction());
        second.return_to_pool();
    });
    f.wait_until([&] { return f.sqlite().writers_queued() == 1; });
    first->commit();
    second_writer.join();
    CHECK(f.committed_names() == std::vector<std::string>{"a"});
    first.return_to_pool();

    // The shared writer goes on as before.
    auto third = f.db->acquire();
    third->begin({});
    third->execute("INSERT INTO t (name) VALUES ('d')");
    third->commit();
    third.return_to_pool();
    CHECK(f.committed_names() == std::vector<std::string>{"a", "d"});
}

TEST_CASE("sqlite group commit: an unresolved deferred foreign key fails only that writer's commit") {
    fixture f;
    auto first = f.db->acquire();
    first->begin({});
    first->execute("INSERT INTO t (name) VALUES ('a')");
    std::thread second_writer([&] {
        auto second = f.db->acquire();
        second->begin({});
        second->execute("INSERT INTO child (id, parent_id) VALUES (1, 99)");  // no parent 99
        f.wait_until([&] { return f.sqlite().writers_waiting_for_commit() == 1; });
        try {
            second->commit();
            FAIL("the commit of a dangling deferred foreign key succeeded");
        } catch (const integrity_error& e) {
            CHECK(e.code() == "SQLITE_CONSTRAINT_FOREIGNKEY");
        }
        CHECK(second->in_transaction());  // as a failed COMMIT: still open, to be rolled back
        second->rollback();
        second.return_to_pool();
    });
    f.wait_until([&] { return f.sqlite().writers_queued() == 1; });
    first->commit();
    second_writer.join();
    CHECK(f.committed_names() == std::vector<std::string>{"a"});
    auto c = f.db->acquire();
    CHECK(std::get<std::int64_t>(c->execute("SELECT count(*) FROM child").rows.at(0).at(0)) == 0);
    c.return_to_pool();
    first.return_to_pool();
}

TEST_CASE("sqlite group commit: when SQLite rolls back the shared transaction, the waiting writers fail with a retryable error") {
    fixture f;
    auto first = f.db->acquire();
    first->begin({});
    first->execute("INSERT INTO t (name) VALUES ('a')");
    std::thread second_writer([&] {
        auto second = f.db->acquire();
        second->begin({});
        auto* handle = dynamic_cast<sqlite_connection&>(*second).native_handle();
        REQUIRE(sqlite3_create_function(handle, "interrupt_me", 0, SQLITE_UTF8, nullptr,
                                        &interrupt_own_connection, nullptr, nullptr) == SQLITE_OK);
        f.wait_until([&] { return f.sqlite().writers_waiting_for_commit() == 1; });
        CHECK_THROWS_AS(second->execute("INSERT INTO t (name) WITH RECURSIVE n(x) AS "
                                        "(SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000) "
                                        "SELECT 'b' || x || interrupt_me() FROM n"),
                        operational_error);
        CHECK_THROWS_AS(second->execute("INSERT INTO t (name) VALUES ('c')"), database_error);
        second->rollback();
        sqlite3_create_function(handle, "interrupt_me", 0, SQLITE_UTF8, nullptr, nullptr, nullptr, nullptr);
        second.return_to_pool();
    });
    f.wait_until([&] { return f.sqlite().writers_queued() == 1; });
    try {
        first->commit();
        FAIL("the commit of a rolled-back group succeeded");
    } catch (const operational_error& e) {
        CHECK(e.is_retryable());
        CHECK(std::string(e.what()).find("not committed") != std::string::npos);
    }
    CHECK_FALSE(first->in_transaction());
    first->rollback();  // a no-op now
    second_writer.join();
    CHECK(f.committed_names().empty());

    // A retry goes through.
    first->begin({});
    first->execute("INSERT INTO t (name) VALUES ('a')");
    first->commit();
    CHECK(f.committed_names() == std::vector<std::string>{"a"});
    first.return_to_pool();
}

TEST_CASE("sqlite group commit: a writer with a statement timeout commits the waiting batch before it starts") {
    fixture f;
    auto first = f.db->acquire();
    first->begin({});
    first->execute("INSERT INTO t (name) VALUES ('a')");
    std::atomic<bool> first_returned{false};
    std::thread first_committer;
    auto second = f.db->acquire();
    std::thread second_writer([&] {
        begin_options timed;
        timed.statement_timeout = 2000ms;
        second->begin(timed);
        // The first one's commit is durable before this transaction does anything.
        f.wait_until([&] { return first_returned.load(); });
        CHECK(f.committed_names() == std::vector<std::string>{"a"});
        second->execute("INSERT INTO t (name) VALUES ('b')");
        second->commit();
    });
    f.wait_until([&] { return f.sqlite().writers_queued() == 1; });
    first->commit();
    first_returned = true;
    second_writer.join();
    CHECK(f.committed_names() == std::vector<std::string>{"a", "b"});
    second.return_to_pool();
    first.return_to_pool();
}

TEST_CASE("sqlite group commit: concurrent writers that commit or roll back leave exactly the committed rows") {
    fixture f;
    constexpr int k_threads = 8;
    constexpr int k_per_thread = 60;
    std::atomic<int> commits{0};
    std::atomic<int> committed{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < k_threads; ++t) {
        writers.emplace_back([&, t] {
            for (int i = 0; i < k_per_thread; ++i) {
                auto c = f.db->acquire();
                try {
                    c->begin({});
                    if (i == 0) {
                        sqlite3_commit_hook(dynamic_cast<sqlite_connection&>(*c).native_handle(),
                                            &count_commit, &commits);
                    }
                    c->execute("INSERT INTO t (name) VALUES (?)",
                               {std::string("w") + std::to_string(t) + "-" + std::to_string(i)});
                    if (i % 5 == 4) {
                        c->rollback();
                    } else {
                        c->commit();
                        ++committed;
                    }
                } catch (const std::exception& e) {
                    ++failures;
                    MESSAGE(e.what());
                    c->rollback();
                }
                c.return_to_pool();
            }
        });
    }
    for (auto& w : writers) w.join();
    CHECK(failures == 0);
    CHECK(committed == k_threads * k_per_thread * 4 / 5);
    CHECK(f.committed_names().size() == static_cast<std::size_t>(committed.load()));
    // Every thread installed the same hook on the one writer, so it counts every COMMIT once.
    // and 8 writers queued for one lock shared COMMITs.
    CHECK(commits.load() >= 1);
    CHECK(commits.load() < committed.load());
    MESSAGE(committed.load() << " commits returned, " << commits.load() << " SQLite COMMITs");
}

TEST_CASE("sqlite group commit: a commit not allowed to batch COMMITs at once, with the batch waiting") {
    fixture f;
    auto first = f.db->acquire();
    first->begin({});
    first->execute("INSERT INTO t (name) VALUES ('a')");
    std::atomic<bool> second_may_commit{false};
    std::thread second_writer([&] {
        auto second = f.db->acquire();
        second->begin({});
        second->execute("INSERT INTO t (name) VALUES ('b')");
        f.wait_until([&] { return second_may_commit.load(); });
        second->commit();
        second.return_to_pool();
    });
    f.wait_until([&] { return f.sqlite().writers_queued() == 1; });
    first->allow_commit_batching(false);
    first->commit();  // does not wait for the queued writer
    CHECK(f.committed_names() == std::vector<std::string>{"a"});
    second_may_commit = true;
    second_writer.join();
    CHECK(f.committed_names() == std::vector<std::string>{"a", "b"});

    // begin() allows it again.
    first->begin({});
    first->execute("INSERT INTO t (name) VALUES ('c')");
    std::thread third_writer([&] {
        auto third = f.db->acquire();
        third->begin({});
        f.wait_until([&] { return f.sqlite().writers_waiting_for_commit() == 1; });
        third->commit();
        third.return_to_pool();
    });
    f.wait_until([&] { return f.sqlite().writers_queued() == 1; });
    first->commit();
    third_writer.join();
    first.return_to_pool();
}
