#pragma once
// Recovery's view of one PostgreSQL participant database (SPEC §5.3): the
// Atrium transactions prepared there and not finished, and COMMIT / ROLLBACK
// PREPARED for them, from a connection to that same database (prepared
// transactions can only be finished from their own database).
//
//   db::pg_participant_store warehouse("postgresql://app@db1:5432/warehouse");
//   auto report = tpc::recover(*main_database, {&warehouse});
//
// Not thread-safe (one recovery pass uses it at a time). The connection is
// opened on first use, reopened when lost and closed by the destructor.

#include "database/postgresql/pg_connection.hpp"
#include "participants/pg_participant.hpp"
#include "transaction/recovery.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace atrium::db {

class pg_participant_store final : public tpc::participant_store {
public:
    /// `dsn` as for pg_join (postgresql://user@host:port/dbname). in_doubt()
    /// skips branches prepared less than `min_age` ago: a periodic pass while
    /// the server runs should give live coordinators that long between their
    /// votes and their main commit (safety never depends on it; see recovery.hpp).
    explicit pg_participant_store(const std::string& dsn, std::chrono::seconds min_age = std::chrono::seconds(0));
    ~pg_participant_store() override;

    pg_participant_store(const pg_participant_store&) = delete;
    pg_participant_store& operator=(const pg_participant_store&) = delete;

    /// The DSN without password and query (the same as the pg_join data manager's).
    std::string participant_id() const override { return dsn_.participant_id; }
    /// `SELECT gid FROM pg_prepared_xacts WHERE database = current_database()
    /// AND gid LIKE 'atrium-%'` (only well-formed Atrium gids), oldest first.
    std::vector<std::string> in_doubt() override;
    /// pg_prepared_xacts.prepared of `gid` (unix seconds), if it is still prepared.
    std::optional<std::int64_t> prepared_at(const std::string& gid) override;
    /// COMMIT PREPARED; a gid that no longer exists (42704) counts as done.
    void commit(const std::string& gid) override;
    /// ROLLBACK PREPARED; a gid that no longer exists (42704) counts as done.
    void rollback(const std::string& gid) override;

private:
    pg_connection& conn();
    void finish(const std::string& gid, bool commit);

    pg_participant_dsn dsn_;
    std::chrono::seconds min_age_;
    std::unique_ptr<pg_connection> conn_;
};

}  // namespace atrium::db
