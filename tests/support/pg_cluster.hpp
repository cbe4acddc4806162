#pragma once
/// @file
/// @brief A real, temporary PostgreSQL cluster for the tests.
///
///     const std::string& dsn = atrium::test::pg_dsn();   // "postgresql://postgres@127.0.0.1:PORT/"
///
/// pg_dsn() finds the cluster, in this order:
///  1. env ATRIUM_TEST_PG_DSN: a server you run yourself (used as is);
///  2. env ATRIUM_TEST_PG_DIR: a directory where `pg_cluster_ctl start DIR`
///     (the ctest fixture "pg") started a cluster and wrote DIR/dsn;
///  3. otherwise it starts a cluster for this process on first use and stops
///     it when the process exits (a watchdog child stops it even if the
///     process is killed).
///
/// A cluster is initdb'd into a fresh directory under $TMPDIR (or /tmp) with
/// trust authentication for the `postgres` role, listens on a free port of
/// 127.0.0.1 (and a unix socket in that directory), and runs with
/// max_prepared_transactions=50, max_connections=200 and fsync off. When the
/// tests run as root, initdb and pg_ctl run as the `postgres` user (initdb
/// refuses root). Stopping is always `pg_ctl -m immediate stop`, then the
/// directory is removed.

#include <filesystem>
#include <string>
#include <sys/types.h>

namespace atrium::test {

/// The DSN of the test cluster (see the file comment). Thread-safe; throws
/// std::runtime_error with the cause (initdb/pg_ctl output) when no cluster
/// can be found or started.
const std::string& pg_dsn();

class pg_cluster {
public:
    /// initdb + start a new cluster in a fresh directory under $TMPDIR.
    /// With `watchdog`, a child process stops the cluster and removes its
    /// directory as soon as this process dies, whatever the cause.
    static pg_cluster start(bool watchdog = true);

    /// Stops the cluster in `dir` (a directory made by start()) if it runs and
    /// removes `dir`. Never throws; returns false if something could not be done.
    static bool stop(const std::filesystem::path& dir) noexcept;

    pg_cluster(pg_cluster&& other) noexcept;
    pg_cluster& operator=(pg_cluster&&) = delete;
    pg_cluster(const pg_cluster&) = delete;
    pg_cluster& operator=(const pg_cluster&) = delete;
    /// Stops the cluster (unless released).
    ~pg_cluster();

    /// postgresql://postgres@127.0.0.1:PORT/
    const std::string& dsn() const noexcept { return dsn_; }
    int port() const noexcept { return port_; }
    /// The cluster's directory (data/, the unix socket, server.log).
    const std::filesystem::path& dir() const noexcept { return dir_; }

    /// Leaves the cluster running after this object dies (the ctest fixture
    /// stops it later with stop(dir())).
    void release() noexcept;
    /// Stops now (idempotent).
    void stop() noexcept;

private:
    pg_cluster() = default;
    void start_watchdog();
    void end_watchdog() noexcept;

    std::filesystem::path dir_;
    std::string dsn_;
    int port_ = 0;
    int watchdog_fd_ = -1;
    pid_t watchdog_pid_ = -1;
};

}  // namespace atrium::test
