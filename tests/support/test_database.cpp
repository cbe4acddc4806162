#include "tests/support/test_database.hpp"

#include "tests/support/pg_cluster.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <random>
#include <stdexcept>

namespace atrium::test {

backend_kind test_backend() {
    const char* env = std::getenv("ATRIUM_TEST_BACKEND");
    const std::string_view name = env ? env : "";
    if (name.empty() || name == "sqlite") return backend_kind::sqlite;
    if (name == "postgresql") return backend_kind::postgresql;
    throw std::invalid_argument("ATRIUM_TEST_BACKEND=" + std::string(name) + ": expected sqlite or postgresql");
}

std::string_view to_string(backend_kind kind) noexcept {
    return kind == backend_kind::sqlite ? "sqlite" : "postgresql";
}

bool testing(backend_kind kind) noexcept {
    try {
        return test_backend() == kind;
    } catch (...) {
        return false;
    }
}

const sql_dialect& dialect(backend_kind kind) {
    static const sql_dialect sqlite{"id INTEGER PRIMARY KEY", "INTEGER", "REAL", "BLOB"};
    static const sql_dialect postgresql{"id BIGSERIAL PRIMARY KEY", "BIGINT", "DOUBLE PRECISION", "BYTEA"};
    return kind == backend_kind::sqlite ? sqlite : postgresql;
}

// ---------------------------------------------------------------------------
// scratch_backend

scratch_backend::scratch_backend(std::string_view uri_query, db::wait_hooks hooks) : kind_(test_backend()) {
    if (kind_ == backend_kind::sqlite) {
        dir_.emplace("atrium-test-");
        uri_ = "sqlite://" + dir_->string();
    } else {
        uri_ = pg_dsn();
    }
    uri_ += uri_query;
    backend_ = db::open_backend(uri_, std::move(hooks));
}

scratch_backend::~scratch_backend() {
    // Best effort: a failed test may still hold a connection. PostgreSQL keeps
    // what is left until the cluster stops; SQLite's directory goes anyway.
    for (auto it = names_.rbegin(); it != names_.rend(); ++it) {
        try {
            if (backend_->exists(*it)) backend_->drop(*it);
        } catch (const std::exception& e) {
            std::cerr << "test fixture: could not drop database " << *it << ": " << e.what() << "\n";
        }
    }
}

std::string scratch_backend::unique_name(std::string_view stem) {
    // Unique among the processes sharing one cluster: pid + a random tag (a
    // crashed process's databases stay behind, and pids are reused) + a counter.
    static const std::string process_tag = [] {
        std::random_device random;
        char tag[16];
        std::snprintf(tag, sizeof tag, "%x", static_cast<unsigned>(random()) & 0xffffffu);
        return std::to_string(::getpid()) + "_" + tag;
    }();
    static std::atomic<unsigned> counter{0};
    std::string name = std::string(stem) + "_" + process_tag + "_" + std::to_string(++counter);
    names_.push_back(name);
    return name;
}

std::unique_ptr<db::backend> scratch_backend::open_again(db::wait_hooks hooks) const {
    return db::open_backend(uri_, std::move(hooks));
}

// ---------------------------------------------------------------------------
// test_database

namespace {

std::string_view fixture_query(backend_kind kind) {
    // A short busy wait keeps SQLite's lock-contention tests quick.
    return kind == backend_kind::sqlite ? "?busy_wait_ms=100" : "";
}

}  // namespace

test_database::test_database() : server(fixture_query(test_backend())) {
    name = server.unique_name("conformance");
    server->create(name);
    db = server->open(name);
    const auto& d = dialect(kind());
    execute("CREATE TABLE note (" + std::string(d.serial_id) + ", text TEXT NOT NULL)");
    execute("CREATE TABLE party (" + std::string(d.serial_id) + ", name TEXT)");
}

test_database::~test_database() {
    db.reset();  // scratch_backend drops the database
}

db::result test_database::execute(std::string_view sql, const std::vector<db::value>& params) {
    auto conn = db->acquire();
    try {
        conn->begin({});
        auto result = conn->execute(sql, params);
        conn->commit();
        conn.return_to_pool();
        return result;
    } catch (...) {
        conn.return_to_pool();
        throw;
    }
}

std::vector<std::string> test_database::committed_notes() {
    // A read-only DB transaction: it sees committed data and, on SQLite, does
    // not need the write lock that another connection of the test may hold.
    auto conn = db->acquire();
    db::result rows;
    try {
        db::begin_options read_only;
        read_only.readonly = true;
        conn->begin(read_only);
        rows = conn->execute("SELECT text FROM note ORDER BY id");
        conn->commit();
    } catch (...) {
        conn.return_to_pool();
        throw;
    }
    conn.return_to_pool();
    std::vector<std::string> texts;
    for (auto& row : rows.rows) texts.push_back(std::get<std::string>(row.at(0)));
    return texts;
}

}  // namespace atrium::test
