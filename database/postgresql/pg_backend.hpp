#pragma once
// The PostgreSQL backend: one server, databases chosen by name, a bounded
// connection pool per database (pg_database).
//
// The URI: pg_uri.hpp; the pool of each database: pg_pool.hpp.
//
// Database names follow the SQLite backend's rule: 1 to 63 letters, digits,
// '_' and '-'; a bad name is a db::invalid_database_name (an operational error).

#include "database/pool_metrics.hpp"
#include "database/database.hpp"
#include "database/postgresql/pg_connection.hpp"
#include "database/postgresql/pg_pool.hpp"
#include "database/postgresql/pg_uri.hpp"

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace atrium::db {

class pg_database final : public database {
public:
    /// `label` is the database name shown in errors ("postgres" for the
    /// maintenance database, whose name() is empty).
    pg_database(std::string name, std::string label, std::string conninfo,
                std::shared_ptr<const pg_settings> settings);
    ~pg_database() override;

    const std::string& name() const override { return name_; }
    std::string_view backend_name() const override { return "postgresql"; }

    /// A connection with no transaction open (see pg_pool). Throws
    /// operational_error when the pool stays exhausted, the database was
    /// dropped, or connecting fails (retryable, SQLSTATE 08006).
    pooled_connection acquire() override;
    /// The pool's wait ends at `until` too (timeout_error then).
    pooled_connection acquire_until(const deadline& until) override;
    std::size_t in_use() const override;
    std::size_t idle() const override;

    /// Closes the idle connections older than the idle timeout; returns how many.
    std::size_t close_expired();
    /// Closes every idle connection; returns how many.
    std::size_t close_idle();

    /// For drop(): refuses if connections are in use (operational_error,
    /// category other, SQLSTATE 55006), else closes the idle ones and makes
    /// acquire() fail until unmark_dropped().
    void mark_dropped();
    void unmark_dropped() noexcept;

private:
    std::string name_;
    std::shared_ptr<pg_pool> pool_;
    metrics::collector_handle metrics_;  // last: unregistered first
};

class pg_backend final : public backend {
public:
    using server_address = pg_server_address;

    pg_backend(server_address address, std::shared_ptr<pg_settings> settings);
    /// Parses the part of a `postgresql://` URI after the "postgresql://" (pg_uri.hpp).
    static std::unique_ptr<pg_backend> from_uri_rest(std::string_view rest, wait_hooks hooks);
    ~pg_backend() override;

    std::string_view name() const override { return "postgresql"; }
    /// The pool of a database (cached; the first open checks that the
    /// database exists, else operational_error 3D000). "" = `postgres`.
    std::shared_ptr<database> open(const std::string& name) override;
    /// `CREATE DATABASE "name" TEMPLATE template0 ENCODING 'UTF8'` on the
    /// maintenance database (autocommit). An existing name: programming_error 42P04.
    void create(const std::string& name) override;
    /// Closes this process's idle connections to it (refuses, operational_error
    /// 55006, while some are in use), then `DROP DATABASE "name"`. A missing
    /// database: programming_error 3D000; other sessions connected: the
    /// server's 55006 error.
    void drop(const std::string& name) override;
    /// False for the empty (maintenance) name.
    bool exists(const std::string& name) override;
    /// Non-template databases with valid names, sorted.
    std::vector<std::string> list() override;

    const pg_settings& settings() const noexcept { return *settings_; }
    void set_pool_size(std::size_t size);
    void set_pool_wait(std::chrono::milliseconds wait);
    void set_idle_timeout(std::chrono::milliseconds timeout);

    /// The URI without the password ("postgresql://user@host:port/").
    std::string display_uri() const;

    /// Throws invalid_database_name unless `name` is 1..63 of [A-Za-z0-9_-]
    /// (or empty when `allow_maintenance`).
    static void validate_name(std::string_view name, bool allow_maintenance = false);

    /// The maintenance database `postgres` (open("")).
    static constexpr const char* maintenance_database = "postgres";

private:
    std::string conninfo_for(const std::string& database) const;
    std::shared_ptr<pg_database> maintenance();
    /// Runs one statement on a maintenance connection in autocommit mode.
    result maintenance_execute(const std::string& sql, const std::vector<value>& params = {});
    std::string quote_identifier(const std::string& name);

    server_address address_;
    std::shared_ptr<pg_settings> settings_;

    std::mutex mutex_;  // never held while talking to the server
    std::map<std::string, std::shared_ptr<pg_database>> open_;
};

}  // namespace atrium::db
