#pragma once
// A connection checked out of a database's pool (db::database::acquire()).
// Move-only; it goes back to its pool when it is destroyed, so no caller
// returns a connection by hand. A broken or suspect connection is closed
// instead with discard(). If the pool is gone first (the database was
// destroyed), the connection is simply closed.

#include <memory>

namespace atrium::db {

class connection;

/// Where pooled connections go back to; implemented by each backend's pool.
/// A database owns its pool; the connections it hands out hold it weakly.
class connection_pool {
public:
    virtual ~connection_pool() = default;
    /// Takes back a connection this pool handed out. `discard` (or a closed or
    /// broken connection) closes it instead of keeping it idle.
    virtual void give_back(std::unique_ptr<connection> conn, bool discard) noexcept = 0;
};

class pooled_connection {
public:
    pooled_connection() noexcept;
    /// `conn` was checked out of `pool` (which counts it as in use).
    pooled_connection(std::unique_ptr<connection> conn, std::weak_ptr<connection_pool> pool) noexcept;
    ~pooled_connection();

    pooled_connection(pooled_connection&& other) noexcept;
    /// Gives back the connection held so far, then takes `other`'s.
    pooled_connection& operator=(pooled_connection&& other) noexcept;
    pooled_connection(const pooled_connection&) = delete;
    pooled_connection& operator=(const pooled_connection&) = delete;

    connection* get() const noexcept { return conn_.get(); }
    connection* operator->() const noexcept { return conn_.get(); }
    connection& operator*() const noexcept { return *conn_; }
    explicit operator bool() const noexcept { return conn_ != nullptr; }

    /// Gives the connection back to its pool now (the handle is empty after).
    void return_to_pool() noexcept { give_back(false); }
    /// Closes the connection instead of pooling it (it is broken, or its
    /// state is unknown); the pool frees its place.
    void discard() noexcept { give_back(true); }

private:
    void give_back(bool discard) noexcept;

    std::unique_ptr<connection> conn_;
    std::weak_ptr<connection_pool> pool_;
};

}  // namespace atrium::db
