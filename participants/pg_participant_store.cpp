#include "participants/pg_participant_store.hpp"

#include "database/errors.hpp"
#include "transaction/fiber_context.hpp"

namespace atrium::db {

namespace {

const std::shared_ptr<const pg_settings>& store_settings() {
    static const std::shared_ptr<const pg_settings> settings = pg_settings::make(fiber_wait_hooks());
    return settings;
}

}  // namespace

pg_participant_store::pg_participant_store(const std::string& dsn, std::chrono::seconds min_age)
    : dsn_(pg_participant_dsn::parse(dsn)), min_age_(min_age) {}

pg_participant_store::~pg_participant_store() = default;

pg_connection& pg_participant_store::conn() {
    if (!conn_ || !conn_->is_open() || conn_->broken()) {
        conn_.reset();
        conn_ = std::make_unique<pg_connection>(dsn_.conninfo, dsn_.participant_id, store_settings());
    }
    return *conn_;
}

std::vector<std::string> pg_participant_store::in_doubt() {
    auto rows = conn().execute(
        "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE 'atrium-%' "
        "AND prepared <= now() - make_interval(secs => ?) ORDER BY prepared",
        {static_cast<std::int64_t>(min_age_.count())});
    std::vector<std::string> gids;
    for (const auto& row : rows.rows) {
        if (const auto* gid = std::get_if<std::string>(&row.at(0)); gid && tpc::is_atrium_gid(*gid)) {
            gids.push_back(*gid);
        }
    }
    return gids;
}

std::optional<std::int64_t> pg_participant_store::prepared_at(const std::string& gid) {
    auto rows = conn().execute(
        "SELECT CAST(extract(epoch FROM prepared) AS BIGINT) FROM pg_prepared_xacts "
        "WHERE database = current_database() AND gid = ?",
        {gid});
    if (rows.empty()) return std::nullopt;
    if (const auto* at = std::get_if<std::int64_t>(&rows.rows.front().at(0))) return *at;
    return std::nullopt;
}

void pg_participant_store::finish(const std::string& gid, bool commit) {
    if (!tpc::is_atrium_gid(gid)) throw std::invalid_argument("not an Atrium gid: \"" + gid + "\"");
    pg_finish_prepared(conn(), gid, commit);  // false (42704): finished meanwhile, nothing left to do
}

void pg_participant_store::commit(const std::string& gid) { finish(gid, true); }

void pg_participant_store::rollback(const std::string& gid) { finish(gid, false); }

}  // namespace atrium::db
