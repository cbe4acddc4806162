#pragma once
// Modules and the per-database pool. A module is declared explicitly (no
// static-initialisation tricks): a name, its dependencies, its models and an
// optional activation step; builtin_modules() registers ir, res and sale.
// A pool holds the models and exposed methods of the modules active in one
// database, loaded by pool_for() and cached per database name. The registry
// also holds the configuration its modules read (module_config.hpp).

#include "database/database.hpp"
#include "modules/cache_generation.hpp"
#include "modules/model.hpp"
#include "modules/module_config.hpp"
#include "modules/rpc.hpp"
#include "modules/ui_def.hpp"
#include "util/error.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace atrium::modules {

class pool;

struct module_def {
    std::string name;
    std::vector<std::string> depends;
    std::string description;
    std::vector<model_def> models;
    /// Runs as root after the module's tables are in place, on every
    /// activation and update: load the module's data (idempotently).
    std::function<void(const pool&)> on_activate;
    /// The keys of the module's configuration section `[name]`: the server
    /// accepts them (INI file, ATRIUM_<NAME>__<KEY>) and checks them at start.
    std::vector<module_setting> settings;
    /// Runs once when a server starts, outside any transaction, with the
    /// configuration: prepares what that configuration names outside the
    /// database (e.g. a table in another database).
    std::function<void(const module_config&)> on_server_start;
    /// Views, actions and menus (ui_def.hpp), loaded by ir after on_activate.
    ui_def ui;
};

/// A module name nobody registered (or a dependency on one).
class unknown_module : public error {
public:
    explicit unknown_module(const std::string& message) : error(message, error_category::other) {}
};
/// Modules that depend on each other in a circle.
class dependency_cycle : public error {
public:
    explicit dependency_cycle(const std::string& message) : error(message, error_category::other) {}
};

class module_registry {
public:
    /// Throws std::logic_error on a duplicate name.
    void add(module_def module);
    const module_def* find(std::string_view name) const;
    std::vector<std::string> names() const;
    /// `wanted` plus their dependencies, dependencies first. Throws
    /// unknown_module or dependency_cycle (naming the modules in the cycle).
    std::vector<const module_def*> resolve(const std::vector<std::string>& wanted) const;

    /// The configuration the modules read from now on (pool::config()); the
    /// server sets it once it has loaded its configuration. Empty until then.
    void configure(module_config config);
    std::shared_ptr<const module_config> configuration() const;
    /// Runs every registered module's on_server_start with the configuration.
    void start_modules() const;

private:
    std::map<std::string, module_def, std::less<>> modules_;
    mutable std::mutex config_mutex_;
    std::shared_ptr<const module_config> config_ = std::make_shared<const module_config>();
};

/// All modules known to the process; the built-in ones (ir, res, sale) are registered by this call.
module_registry& builtin_modules();

struct access_perms {
    bool read = true, write = true, create = true, remove = true;
};

class pool : public std::enable_shared_from_this<pool> {
public:
    /// The models and methods of `modules` (in dependency order), configured by `registry`.
    explicit pool(const std::vector<const module_def*>& modules, const module_registry& registry = builtin_modules());
    pool(const pool&) = delete;
    pool& operator=(const pool&) = delete;

    const model& get(std::string_view model_name) const;  ///< key_error if not in this pool
    const model* find(std::string_view model_name) const;
    std::vector<std::string> model_names() const;
    const std::vector<std::string>& module_names() const noexcept { return modules_; }
    /// The configuration as it is now (a module reads its own section from it).
    std::shared_ptr<const module_config> config() const { return registry_.configuration(); }

    const exposed_method* find_method(std::string_view full_name) const;  ///< "model.res.user.read"
    bool has_object(std::string_view type_and_name) const;                 ///< "model.res.user"
    std::vector<std::string> method_names() const;                         ///< system.listMethods

    /// Cached rights expire after this long at the latest. Changes made
    /// through Atrium, by any process, are seen at once: they move the
    /// database's cache generation (cache_generation.hpp) the pool is bound
    /// to; the expiry only catches changes made behind Atrium's back (SQL).
    static constexpr std::chrono::seconds access_cache_ttl{5};
    /// A cached pool re-checks the active modules of its database after this
    /// long at the latest (at once when the cache generation moved).
    static constexpr std::chrono::seconds module_check_interval{2};

    // The access-rights cache (access.hpp).
    std::optional<access_perms> cached_access(std::int64_t user, const std::string& model) const;
    void cache_access(std::int64_t user, const std::string& model, access_perms perms) const;
    void clear_access_cache() const;
    /// Binds the pool to its database's generation (pool_for, before the pool
    /// is shared). Unbound pools (tests, activation) rely on the expiry alone.
    void bind_generation(std::shared_ptr<const cache_generation> generation) { generation_ = std::move(generation); }
    const std::shared_ptr<const cache_generation>& generation() const noexcept { return generation_; }

private:
    void expose(const model& m);
    const module_registry& registry_;
    std::vector<std::string> modules_;
    std::map<std::string, std::unique_ptr<model>, std::less<>> models_;
    std::map<std::string, exposed_method, std::less<>> methods_;
    struct cached_perms {
        access_perms perms;
        std::chrono::steady_clock::time_point at;
        std::uint64_t generation = 0;  // of generation_ when read (bound pools)
    };
    std::shared_ptr<const cache_generation> generation_;
    mutable std::mutex access_mutex_;
    mutable std::map<std::pair<std::int64_t, std::string>, cached_perms> access_;
};

/// Loads (and caches per database name) the pool; call inside a started transaction on that database.
std::shared_ptr<const pool> pool_for(db::database& database);
/// The pool of the current transaction's database.
std::shared_ptr<const pool> current_pool();
/// Forgets the cached pool of a database (after activation or update).
void forget_pool(const std::string& database_name);
/// Where pool_for() reads "now" for pool::module_check_interval: the steady
/// clock, a hand-moved one in tests. Returns the clock it replaces.
using pool_clock = std::function<std::chrono::steady_clock::time_point()>;
pool_clock set_pool_clock(pool_clock clock);

/// Creates tables for and activates ir, res + `modules` in dependency order; creates the admin user. Idempotent.
void init_database(std::shared_ptr<db::database> database, const std::vector<std::string>& modules,
                   const std::string& admin_password);
/// Re-syncs the schema of the active modules (never drops anything).
void update_database(std::shared_ptr<db::database> database);
/// common.db.list filter: the required tables are present.
bool is_atrium_database(db::database& database);
/// The modules active in a database (empty if it is not an Atrium database).
std::vector<std::string> active_modules(db::database& database);

}  // namespace atrium::modules
