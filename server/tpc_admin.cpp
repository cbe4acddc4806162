#include "server/tpc_admin.hpp"

#include "database/database.hpp"
#include "server/recovery_command.hpp"
#include "transaction/logging.hpp"
#include "transaction/recovery.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

namespace atrium::server {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string_view text_of(tpc::outcome o) { return o == tpc::outcome::commit ? "commit" : "abort"; }

/// What the commands need: the served databases and the configured stores.
struct tpc_context {
    std::unique_ptr<db::backend> backend;
    std::unique_ptr<served_databases> databases;
    std::vector<std::unique_ptr<tpc::participant_store>> stores;

    db::database* decider(const std::string& gid) const {
        const auto id = tpc::gid_database(gid);
        return id.empty() ? databases->legacy() : databases->find(id);
    }
    std::string decider_name(const std::string& gid) const {
        auto* database = decider(gid);
        return database ? database->name() : "-";
    }
};

std::optional<tpc_context> open_context(const config& cfg, std::ostream& err) {
    tpc_context ctx;
    const std::string where = masked_uri(cfg.database.uri) + "/" + cfg.database.name;
    try {
        ctx.backend = db::open_backend(backend_uri(cfg));
        if (!ctx.backend->exists(cfg.database.name)) {
            err << "atrium-admin: database " << where << " does not exist\n";
            return std::nullopt;
        }
        ctx.databases = std::make_unique<served_databases>(*ctx.backend, ctx.backend->open(cfg.database.name));
        ctx.databases->refresh();
    } catch (const std::exception& e) {
        err << "atrium-admin: cannot open database " << where << ": " << e.what() << '\n';
        return std::nullopt;
    }
    ctx.stores = configured_participant_stores(cfg);
    return ctx;
}

int list(tpc_context& ctx, std::ostream& out, std::ostream& err) {
    int status = exit_ok;
    const auto now = unix_now();
    out << "gid\tparticipant\tage_s\tdecision\tdatabase\n";
    for (const auto& store : ctx.stores) {
        std::vector<std::string> gids;
        try {
            gids = store->in_doubt();
        } catch (const std::exception& e) {
            err << "atrium-admin: cannot list " << store->participant_id() << ": " << e.what() << '\n';
            status = exit_failure;
            continue;
        }
        for (const auto& gid : gids) {
            std::string age = "-";
            if (auto at = store->prepared_at(gid)) age = std::to_string(std::max<std::int64_t>(0, now - *at));
            std::string decision = "foreign";
            if (auto* database = ctx.decider(gid)) {
                const auto recorded = tpc::decisions::lookup(*database, gid);
                decision = recorded ? std::string(text_of(*recorded)) : "none";
            }
            out << gid << '\t' << store->participant_id() << '\t' << age << '\t' << decision << '\t'
                << ctx.decider_name(gid) << '\n';
        }
    }
    return status;
}

int finish(tpc_context& ctx, const tpc_command& cmd, std::ostream& out, std::ostream& err) {
    const tpc::outcome wanted = cmd.action == "commit" ? tpc::outcome::commit : tpc::outcome::abort;
    std::vector<tpc::participant_store*> holders;
    for (const auto& store : ctx.stores) {
        const auto gids = store->in_doubt();
        if (std::find(gids.begin(), gids.end(), cmd.gid) != gids.end()) holders.push_back(store.get());
    }
    if (holders.empty()) {
        err << "atrium-admin: " << cmd.gid << " is not in doubt in any configured participant\n";
        return exit_failure;
    }
    const std::string participant = holders.front()->participant_id();
    db::database* decider = ctx.decider(cmd.gid);
    if (!decider) {
        if (!cmd.force) {
            err << "atrium-admin: the decision database of " << cmd.gid
                << " is not served here (another deployment's transaction): refused without --force\n";
            return exit_failure;
        }
        log_warning("tpc " + cmd.action + " " + cmd.gid + " forced by the operator: its decision database is not "
                    "served here");
    } else {
        // Presumed abort: without a commit record the main transaction did not
        // commit, so committing a branch is the operator overruling that.
        const bool recorded = tpc::decisions::lookup(*decider, cmd.gid).has_value();
        if (!recorded && wanted == tpc::outcome::commit && !cmd.force) {
            err << "atrium-admin: no commit decision is recorded for " << cmd.gid << " in " << decider->name()
                << " (presumed abort): commit refused without --force\n";
            return exit_failure;
        }
        const auto decided = tpc::decisions::settle(*decider, cmd.gid, participant, wanted);
        if (!recorded && wanted == tpc::outcome::commit) {
            log_warning("tpc commit " + cmd.gid + " forced by the operator without a commit decision in " +
                        decider->name());
        }
        if (decided != wanted) {
            if (!cmd.force) {
                err << "atrium-admin: the decision of " << cmd.gid << " in " << decider->name() << " is "
                    << text_of(decided) << ": " << cmd.action << " refused without --force\n";
                return exit_failure;
            }
            log_warning("tpc " + cmd.action + " " + cmd.gid + " forced by the operator against the recorded decision " +
                        std::string(text_of(decided)) + " in " + decider->name());
            tpc::decisions::overrule(*decider, cmd.gid, participant, wanted);
        }
    }
    int status = exit_ok;
    for (auto* store : holders) {
        try {
            if (wanted == tpc::outcome::commit) store->commit(cmd.gid);
            else store->rollback(cmd.gid);
            out << "atrium-admin: " << (wanted == tpc::outcome::commit ? "committed " : "rolled back ") << cmd.gid
                << " in " << store->participant_id() << '\n';
        } catch (const std::exception& e) {
            err << "atrium-admin: " << cmd.gid << " in " << store->participant_id() << ": " << e.what() << '\n';
            status = exit_failure;
        }
    }
    return status;
}

}  // namespace

int run_tpc_command(const config& cfg, const tpc_command& cmd, std::ostream& out, std::ostream& err) {
    const bool finishing = cmd.action == "commit" || cmd.action == "rollback";
    if (cmd.action != "list" && !finishing) {
        err << "atrium-admin: tpc: unknown action \"" << cmd.action << "\" (list, commit GID, rollback GID)\n";
        return exit_usage;
    }
    if (finishing && !tpc::is_atrium_gid(cmd.gid)) {
        err << "atrium-admin: tpc " << cmd.action << ": not an Atrium gid: \"" << cmd.gid << "\"\n";
        return exit_usage;
    }
    if (!finishing && (!cmd.gid.empty() || cmd.force)) {
        err << "atrium-admin: tpc list takes no gid and no --force\n";
        return exit_usage;
    }
    auto ctx = open_context(cfg, err);
    if (!ctx) return exit_failure;
    try {
        return finishing ? finish(*ctx, cmd, out, err) : list(*ctx, out, err);
    } catch (const std::exception& e) {
        err << "atrium-admin: tpc " << cmd.action << " failed: " << e.what() << '\n';
        return exit_failure;
    }
}

}  // namespace atrium::server
