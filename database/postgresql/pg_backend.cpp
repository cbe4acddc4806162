#include "database/postgresql/pg_backend.hpp"

// Every catch (...) here cleans up and rethrows, so a fiber's forced_unwind
// (boost::context) passes through unchanged.

#include "database/errors.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace atrium::db {

namespace {

using std::chrono::milliseconds;

constexpr std::size_t k_max_name_length = 63;  // NAMEDATALEN - 1

std::string dq(std::string_view name) { return "\"" + std::string(name) + "\""; }

}  // namespace

// ---------------------------------------------------------------------------
// pg_database

pg_database::pg_database(std::string name, std::string label, std::string conninfo,
                         std::shared_ptr<const pg_settings> settings)
    : name_(std::move(name)),
      pool_(std::make_shared<pg_pool>(std::move(label), std::move(conninfo), std::move(settings))) {
    if (!name_.empty()) metrics_ = pool_collector(*this, [pool = pool_.get()] { return pool->max_size(); });
}

pg_database::~pg_database() = default;

pooled_connection pg_database::acquire() { return pooled_connection(pool_->acquire(), pool_); }

pooled_connection pg_database::acquire_until(const deadline& until) {
    return pooled_connection(pool_->acquire(until), pool_);
}

std::size_t pg_database::in_use() const { return pool_->in_use(); }
std::size_t pg_database::idle() const { return pool_->idle(); }
std::size_t pg_database::close_expired() { return pool_->close_expired(); }
std::size_t pg_database::close_idle() { return pool_->close_idle(); }
void pg_database::mark_dropped() { pool_->mark_dropped(); }
void pg_database::unmark_dropped() noexcept { pool_->unmark_dropped(); }

// ---------------------------------------------------------------------------
// pg_backend

std::unique_ptr<pg_backend> pg_backend::from_uri_rest(std::string_view rest, wait_hooks hooks) {
    auto settings = pg_settings::make(std::move(hooks));
    auto address = parse_pg_uri(rest, *settings);
    return std::make_unique<pg_backend>(std::move(address), std::move(settings));
}

pg_backend::pg_backend(server_address address, std::shared_ptr<pg_settings> settings)
    : address_(std::move(address)), settings_(std::move(settings)) {
    if (!settings_) settings_ = pg_settings::make();
}

pg_backend::~pg_backend() {
    // Databases still referenced elsewhere keep their pools.
    std::lock_guard lock(mutex_);
    open_.clear();
}

std::string pg_backend::display_uri() const { return pg_display_uri(address_); }

void pg_backend::set_pool_size(std::size_t size) { settings_->pool_size = std::max<std::size_t>(1, size); }

void pg_backend::set_pool_wait(milliseconds wait) {
    settings_->pool_wait = std::max(milliseconds(0), wait);
}

void pg_backend::set_idle_timeout(milliseconds timeout) {
    settings_->idle_timeout = std::max(milliseconds(0), timeout);
}

void pg_backend::validate_name(std::string_view name, bool allow_maintenance) {
    if (name.empty()) {
        if (allow_maintenance) return;
        throw invalid_database_name("a database name must not be empty");
    }
    if (name.size() > k_max_name_length) {
        throw invalid_database_name("database name \"" + std::string(name.substr(0, 80)) +
                                    "...\" is longer than 63 characters");
    }
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '-';
        if (!ok) {
            std::string shown;
            for (char s : name) {
                if (static_cast<unsigned char>(s) < 0x20 || s == 0x7f) shown += '?';
                else shown += s;
            }
            throw invalid_database_name("invalid database name \"" + shown +
                                        "\": use letters, digits, '_' and '-'");
        }
    }
}

std::string pg_backend::conninfo_for(const std::string& database) const {
    return pg_conninfo(address_, database);
}

std::shared_ptr<pg_database> pg_backend::maintenance() {
    std::lock_guard lock(mutex_);
    auto& slot = open_[""];
    if (!slot) {
        slot = std::make_shared<pg_database>("", maintenance_database,
                                             conninfo_for(maintenance_database), settings_);
    }
    return slot;
}

result pg_backend::maintenance_execute(const std::string& sql, const std::vector<value>& params) {
    auto conn = maintenance()->acquire();
    begin_options autocommit;
    autocommit.autocommit = true;
    conn->begin(autocommit);
    result out = conn->execute(sql, params);
    conn->commit();
    return out;
}

std::string pg_backend::quote_identifier(const std::string& name) {
    auto conn = maintenance()->acquire();
    return static_cast<pg_connection&>(*conn).quote_name(name);
}

std::shared_ptr<database> pg_backend::open(const std::string& name) {
    validate_name(name, /*allow_maintenance=*/true);
    if (name.empty()) return maintenance();
    {
        std::lock_guard lock(mutex_);
        if (auto it = open_.find(name); it != open_.end()) return it->second;
    }
    // The existence check talks to the server: outside the lock.
    if (!exists(name)) {
        throw operational_error("database " + dq(name) + " does not exist on " + display_uri() +
                                    " [SQLSTATE 3D000]",
                                error_category::other, "3D000");
    }
    std::lock_guard lock(mutex_);
    auto& slot = open_[name];
    if (!slot) slot = std::make_shared<pg_database>(name, name, conninfo_for(name), settings_);
    return slot;
}

void pg_backend::create(const std::string& name) {
    validate_name(name);
    // CREATE DATABASE cannot run inside a transaction block: autocommit.
    maintenance_execute("CREATE DATABASE " + quote_identifier(name) +
                        " TEMPLATE template0 ENCODING 'UTF8'");
    std::lock_guard lock(mutex_);
    open_.erase(name);  // a stale entry of a database dropped behind our back
}

void pg_backend::drop(const std::string& name) {
    validate_name(name);
    std::shared_ptr<pg_database> pool;
    {
        std::lock_guard lock(mutex_);
        if (auto it = open_.find(name); it != open_.end()) pool = it->second;
    }
    if (pool) pool->mark_dropped();  // throws if connections are in use
    try {
        maintenance_execute("DROP DATABASE " + quote_identifier(name));
    } catch (...) {
        if (pool) pool->unmark_dropped();
        throw;
    }
    std::lock_guard lock(mutex_);
    if (auto it = open_.find(name); it != open_.end() && it->second == pool) open_.erase(it);
}

bool pg_backend::exists(const std::string& name) {
    if (name.empty()) return false;
    validate_name(name);
    const auto rows =
        maintenance_execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = ?", {name});
    return !rows.empty();
}

std::vector<std::string> pg_backend::list() {
    const auto rows = maintenance_execute(
        "SELECT datname FROM pg_catalog.pg_database WHERE NOT datistemplate");
    std::vector<std::string> names;
    for (const auto& row : rows.rows) {
        const auto* text = std::get_if<std::string>(&row.at(0));
        if (!text) continue;
        try {
            validate_name(*text);
        } catch (const invalid_database_name&) {
            continue;  // not a name Atrium can open
        }
        names.push_back(*text);
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace atrium::db
