#include "server/recovery_command.hpp"

#include "database/database.hpp"
#include "database/postgresql/pg_participant_store.hpp"
#include "transaction/file_manager.hpp"
#include "transaction/mail_outbox.hpp"

namespace atrium::server {

std::vector<std::unique_ptr<tpc::participant_store>> configured_participant_stores(const config& cfg,
                                                                                   std::chrono::seconds min_age) {
    std::vector<std::unique_ptr<tpc::participant_store>> stores;
    for (const auto& dsn : cfg.tpc.participants) {
        stores.push_back(std::make_unique<db::pg_participant_store>(dsn, min_age));
    }
    if (!cfg.mail.maildir.empty()) stores.push_back(std::make_unique<mail_outbox_store>(cfg.mail.maildir));
    if (!cfg.files.staging.empty()) stores.push_back(std::make_unique<file_manager_store>(cfg.files.staging));
    return stores;
}

tpc::recovery_report run_recovery(db::database& main,
                                  const std::vector<std::unique_ptr<tpc::participant_store>>& stores) {
    std::vector<tpc::participant_store*> raw;
    raw.reserve(stores.size());
    for (const auto& store : stores) raw.push_back(store.get());
    return tpc::recover(main, raw);
}

std::string recovery_summary(const tpc::recovery_report& report, std::size_t participants) {
    return "recovery: " + std::to_string(participants) + " participant(s), committed " +
           std::to_string(report.committed) + ", rolled back " + std::to_string(report.rolled_back) + ", failed " +
           std::to_string(report.failed) + ", forgotten " + std::to_string(report.forgotten) + " record(s)";
}

}  // namespace atrium::server
