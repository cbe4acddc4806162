#include "server/recovery_command.hpp"

#include "database/database.hpp"
#include "participants/pg_participant_store.hpp"
#include "participants/file_manager.hpp"
#include "transaction/logging.hpp"
#include "participants/mail_outbox.hpp"
#include "transaction/tpc_identity.hpp"

#include <stdexcept>

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

namespace {

std::vector<tpc::participant_store*> raw_stores(const std::vector<std::unique_ptr<tpc::participant_store>>& stores) {
    std::vector<tpc::participant_store*> raw;
    raw.reserve(stores.size());
    for (const auto& store : stores) raw.push_back(store.get());
    return raw;
}

}  // namespace

served_databases::served_databases(db::backend& backend, std::shared_ptr<db::database> main)
    : backend_(backend), main_(std::move(main)) {
    if (!main_) throw std::invalid_argument("served_databases: no main database");
}

void served_databases::refresh(std::chrono::seconds recheck) {
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::string> names{main_->name()};
    try {
        for (auto& name : backend_.list()) names.push_back(std::move(name));
    } catch (const std::exception& error) {
        log_warning(std::string("recovery: cannot list the databases: ") + error.what());
    }
    for (const auto& name : names) {
        if (ids_.contains(name)) continue;
        if (auto it = without_id_.find(name); it != without_id_.end() && now - it->second < recheck) continue;
        try {
            auto database = name == main_->name() ? main_ : backend_.open(name);
            if (auto id = tpc::read_database_id(*database)) {
                ids_[name] = *id;
                open_[name] = std::move(database);
                without_id_.erase(name);
                continue;
            }
        } catch (const std::exception& error) {
            log_info("recovery: database " + name + " skipped: " + error.what());
        }
        without_id_[name] = now;
    }
}

db::database* served_databases::find(std::string_view database_id) {
    for (const auto& [name, id] : ids_) {
        if (id == database_id) return open_.at(name).get();
    }
    return nullptr;
}

std::vector<db::database*> served_databases::all() {
    std::vector<db::database*> out{main_.get()};
    for (const auto& [name, database] : open_) {
        if (database != main_) out.push_back(database.get());
    }
    return out;
}

std::shared_ptr<db::database> served_databases::by_name(const std::string& name) const {
    if (name == main_->name()) return main_;
    auto it = open_.find(name);
    return it == open_.end() ? nullptr : it->second;
}

tpc::recovery_report run_recovery(db::database& main,
                                  const std::vector<std::unique_ptr<tpc::participant_store>>& stores) {
    return tpc::recover(main, raw_stores(stores));
}

tpc::recovery_report run_recovery(served_databases& databases,
                                  const std::vector<std::unique_ptr<tpc::participant_store>>& stores) {
    databases.refresh();
    return tpc::recover(databases, raw_stores(stores));
}

std::string recovery_summary(const tpc::recovery_report& report, std::size_t participants) {
    return "recovery: " + std::to_string(participants) + " participant(s), committed " +
           std::to_string(report.committed) + ", rolled back " + std::to_string(report.rolled_back) + ", failed " +
           std::to_string(report.failed) + ", forgotten " + std::to_string(report.forgotten) + " record(s)" +
           (report.foreign ? ", left " + std::to_string(report.foreign) + " of other databases alone" : "");
}

}  // namespace atrium::server
