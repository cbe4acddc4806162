#pragma once
/// @file
/// @brief The two-phase-commit recovery pass of the server (SPEC §5.3), as
/// configured: the PostgreSQL participants of `tpc.participants`, the mail
/// outbox of `mail.maildir` and the file staging area of `files.staging`,
/// decided from the decision records of the main database. `atriumd` runs one
/// pass at start-up; `atrium-admin --recover` runs one on demand.
///
///     auto stores = atrium::server::configured_participant_stores(cfg);
///     auto report = atrium::server::run_recovery(*database, stores);
///     std::cout << atrium::server::recovery_summary(report, stores) << '\n';

#include "server/config.hpp"
#include "transaction/recovery.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace atrium::db {
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

/// One recovery pass over `stores` against `main` (tpc::recover). Errors of a
/// store or a gid are counted in the report's `failed` (and logged); an error
/// of the main database propagates.
tpc::recovery_report run_recovery(db::database& main,
                                  const std::vector<std::unique_ptr<tpc::participant_store>>& stores);

/// One line: "recovery: 3 participant(s), committed 2, rolled back 0, failed 0, forgotten 1 record(s)".
std::string recovery_summary(const tpc::recovery_report& report, std::size_t participants);

}  // namespace atrium::server
