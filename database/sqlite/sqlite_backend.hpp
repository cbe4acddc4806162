#pragma once
// The SQLite backend: one database file `<dir>/<name>.sqlite` per database
// under a directory, or in-process in-memory databases for unit tests.
//
// URIs (see open_backend in database/database.hpp):
//   sqlite:///abs/dir          absolute directory
//   sqlite://rel/dir           directory relative to the working directory
//                              (made absolute when the backend opens)
//   sqlite://:memory:          in-memory databases
//   ...?busy_wait_ms=N         longest wait of BEGIN IMMEDIATE / COMMIT for the
//                              write lock (default 5000); also set_busy_wait()
// The directory is created if missing. Database names are 1 to 63 letters,
// digits, '_' and '-' (the empty name is the maintenance database, which is a
// private in-memory database only good for listing); a bad name is a
// db::invalid_database_name (an operational error).
//
// In-memory mode: each database is the shared-cache in-memory database
// `file:atrium-<backend id>-<name>?mode=memory&cache=shared`, kept alive by an
// anchor connection the backend holds from create() to drop(). Shared-cache
// locking is per table and reports SQLITE_LOCKED (retryable) instead of
// waiting, and readers do not get WAL's snapshot isolation: use directory
// databases for concurrency tests.

#include "database/pool_metrics.hpp"
#include "database/database.hpp"
#include "database/sqlite/sqlite_connection.hpp"
#include "database/sqlite/sqlite_group_commit.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::db {

/// The pool of one database: idle connections (reused LIFO) and a count of
/// those handed out. The database owns it; the pooled_connection handles it
/// gives out hold it weakly and come back through give_back().
struct sqlite_pool_state final : connection_pool {
    std::mutex mutex;
    std::vector<std::unique_ptr<sqlite_connection>> idle;
    std::size_t in_use = 0;
    bool dropped = false;
    /// The database's write queue, shared by every connection of the pool.
    std::shared_ptr<sqlite_write_gate> write_gate = std::make_shared<sqlite_write_gate>();
    /// Its shared writer connection and batches (set by sqlite_database).
    std::shared_ptr<sqlite_group_commit> group;

    /// Back to the pool, unless `discard`, or the connection is closed or
    /// broken, or the database was dropped. A connection still in a
    /// transaction is rolled back first (and discarded if that fails).
    void give_back(std::unique_ptr<connection> conn, bool discard) noexcept override;
};

class sqlite_database final : public database {
public:
    sqlite_database(std::string name, sqlite_connection::open_params params,
                    std::shared_ptr<const sqlite_settings> settings);
    ~sqlite_database() override;

    const std::string& name() const override { return name_; }
    std::string_view backend_name() const override { return "sqlite"; }

    /// The most recently released idle connection, else a new one. Throws
    /// operational_error if the database was dropped.
    pooled_connection acquire() override;
    std::size_t in_use() const override;
    std::size_t idle() const override;
    /// Writers queued for the write turn, and writers waiting for their batch's
    /// COMMIT (sqlite_group_commit; for tests).
    std::size_t writers_queued() const { return state_->write_gate->waiting(); }
    std::size_t writers_waiting_for_commit() const;

    /// For drop(): refuses if connections are in use (operational_error,
    /// category other), else closes the idle ones and makes acquire() fail.
    void mark_dropped();

    /// File databases: the file `<database file>-counter-<topic>`, mapped;
    /// in-memory databases: a counter of this process. Cached per topic.
    std::shared_ptr<shared_counter> change_counter(std::string_view topic) override;

private:
    std::string name_;
    sqlite_connection::open_params params_;
    std::shared_ptr<const sqlite_settings> settings_;
    std::shared_ptr<sqlite_pool_state> state_;
    std::mutex counters_mutex_;
    std::map<std::string, std::shared_ptr<shared_counter>, std::less<>> counters_;
    metrics::collector_handle metrics_;  // last: unregistered first
};

class sqlite_backend final : public backend {
public:
    /// Databases are files under `directory` (created if missing).
    explicit sqlite_backend(std::filesystem::path directory, wait_hooks hooks = {});
    /// In-memory databases.
    static std::unique_ptr<sqlite_backend> in_memory(wait_hooks hooks = {});
    /// Parses the part of a `sqlite://` URI after the "sqlite://".
    static std::unique_ptr<sqlite_backend> from_uri_rest(std::string_view rest, wait_hooks hooks);

    ~sqlite_backend() override;

    std::string_view name() const override { return "sqlite"; }
    std::shared_ptr<database> open(const std::string& name) override;
    void create(const std::string& name) override;
    void drop(const std::string& name) override;
    /// False for the empty (maintenance) name.
    bool exists(const std::string& name) override;
    std::vector<std::string> list() override;

    bool is_in_memory() const noexcept { return !directory_; }
    /// The database directory (absolute); empty in memory mode.
    std::filesystem::path directory() const { return directory_.value_or(std::filesystem::path{}); }
    /// The file of a database (directory mode).
    std::filesystem::path file_of(std::string_view name) const;

    /// Longest wait of BEGIN IMMEDIATE / COMMIT for a busy database, for every
    /// connection of this backend from the next wait on (default 5 s).
    std::chrono::milliseconds busy_wait() const;
    void set_busy_wait(std::chrono::milliseconds wait);

    /// Throws invalid_database_name unless `name` is 1..63 of [A-Za-z0-9_-]
    /// (or empty when `allow_maintenance`).
    static void validate_name(std::string_view name, bool allow_maintenance = false);

private:
    struct memory_tag {};
    sqlite_backend(memory_tag, wait_hooks hooks);

    sqlite_connection::open_params params_for(const std::string& name) const;
    bool exists_locked(const std::string& name) const;

    std::optional<std::filesystem::path> directory_;  // nullopt: in memory
    std::uint64_t id_;
    std::shared_ptr<sqlite_settings> settings_;

    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<sqlite_database>> open_;
    std::map<std::string, std::unique_ptr<sqlite_connection>> anchors_;  // in memory mode
};

}  // namespace atrium::db
