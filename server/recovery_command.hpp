#pragma once
/// @file
/// @brief The two-phase-commit recovery pass of the server (SPEC §5.3), as
/// configured: the PostgreSQL participants of `tpc.participants`, the mail
/// outbox of `mail.maildir` and the file staging area of `files.staging`,
/// decided from the decision records of the main database each gid names. `atriumd` runs one
/// pass at start-up; `atrium-admin --recover` runs one on demand.
///
///     auto stores = atrium::server::configured_participant_stores(cfg);
///     auto report = atrium::server::run_recovery(*database, stores);
///     std::cout << atrium::server::recovery_summary(report, stores) << '\n';

#include "server/config.hpp"
#include "transaction/recovery.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace atrium::db {
class backend;
class database;
}

namespace atrium::server {

/// The participant stores the configuration names, in this order: PostgreSQL
/// participants (as listed), the mail outbox, the file staging area (the last
/// two unless their directory setting is empty). Nothing is connected or
/// created here. `min_age`: PostgreSQL branches prepared less than that ago
/// are left alone (0 at start-up; a periodic pass gives live coordinators time).
std::vector<std::unique_ptr<tpc::participant_store>> configured_participant_stores(
    const config& cfg, std::chrono::seconds min_age = std::chrono::seconds(0));

/// The main databases a server serves, as recovery's decision directory: the
/// configured `database.name` (which alone decides old-format gids, naming no
/// database) and every database of the backend's list() (SQLite: every
/// `<name>.sqlite` of the directory; PostgreSQL: every database of the server)
/// that has a two-phase-commit id (transaction/tpc_identity.hpp), i.e. every
/// database a coordinator of this server can have made gids for. A gid naming
/// any other database is another deployment's: recovery leaves it alone.
class served_databases final : public tpc::decision_directory {
public:
    served_databases(db::backend& backend, std::shared_ptr<db::database> main);
    /// Reads the backend's list again (new databases; those without an id are
    /// looked at again after `recheck`). Errors of one database are logged.
    void refresh(std::chrono::seconds recheck = std::chrono::minutes(10));
    db::database* find(std::string_view database_id) override;
    db::database* legacy() override { return main_.get(); }
    std::vector<db::database*> all() override;
    /// name → id of the databases found with an id (the main one included if it has one).
    const std::map<std::string, std::string>& ids() const noexcept { return ids_; }
    /// The open database called `name`, if it is one of those found.
    std::shared_ptr<db::database> by_name(const std::string& name) const;

private:
    db::backend& backend_;
    std::shared_ptr<db::database> main_;
    std::map<std::string, std::string> ids_;
    std::map<std::string, std::shared_ptr<db::database>> open_;
    std::map<std::string, std::chrono::steady_clock::time_point> without_id_;
};

/// One recovery pass over `stores` against `main` alone (tpc::recover). Errors of a
/// store or a gid are counted in the report's `failed` (and logged); an error
/// of the main database propagates.
tpc::recovery_report run_recovery(db::database& main,
                                  const std::vector<std::unique_ptr<tpc::participant_store>>& stores);
/// The same over every database the server serves (refreshed first).
tpc::recovery_report run_recovery(served_databases& databases,
                                  const std::vector<std::unique_ptr<tpc::participant_store>>& stores);

/// One line: "recovery: 3 participant(s), committed 2, rolled back 0, failed 0, forgotten 1 record(s)".
std::string recovery_summary(const tpc::recovery_report& report, std::size_t participants);

}  // namespace atrium::server
