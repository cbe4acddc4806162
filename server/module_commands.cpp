#include "server/module_commands.hpp"

#include "database/database.hpp"
#include "modules/registry.hpp"
#include "transaction/tpc_identity.hpp"

#include <algorithm>
#include <exception>
#include <ostream>

namespace atrium::server {

namespace {

std::string where(const config& cfg, const std::string& name) { return masked_uri(cfg.database.uri) + "/" + name; }

// Checks the names before anything is created: an unknown module or a cycle
// must not leave an empty database behind.
bool check_modules(const std::vector<std::string>& modules, std::ostream& err) {
    std::vector<std::string> wanted{"ir", "res"};
    wanted.insert(wanted.end(), modules.begin(), modules.end());
    try {
        (void)modules::builtin_modules().resolve(wanted);
        return true;
    } catch (const modules::unknown_module& e) {
        err << "atrium-admin: " << e.what() << " (see --list-modules)\n";
    } catch (const modules::dependency_cycle& e) {
        err << "atrium-admin: " << e.what() << '\n';
    }
    return false;
}

}  // namespace

int run_init(const config& cfg, const module_command& cmd, std::ostream& out, std::ostream& err) {
    if (!check_modules(cmd.modules, err)) return 1;
    auto backend = db::open_backend(backend_uri(cfg));
    const bool existed = backend->exists(cmd.database);
    std::shared_ptr<db::database> database;
    if (!existed) backend->create(cmd.database);
    database = backend->open(cmd.database);
    const bool initialised = existed && modules::is_atrium_database(*database);
    if (!initialised && (!cmd.admin_password || cmd.admin_password->empty())) {
        err << "atrium-admin: --init needs the admin password: set ATRIUM_ADMIN_PASSWORD or give --password-file\n";
        if (!existed) {
            database.reset();
            backend->drop(cmd.database);
        }
        return 1;
    }
    modules::init_database(database, cmd.modules, cmd.admin_password.value_or(""));
    tpc::ensure_database_id(*database);  // named by every gid its transactions make
    out << "atrium-admin: " << where(cfg, cmd.database) << (existed ? "" : " created;") << " active modules:";
    for (const auto& m : modules::active_modules(*database)) out << ' ' << m;
    out << std::endl;
    return 0;
}

int run_update(const config& cfg, const module_command& cmd, std::ostream& out, std::ostream& err) {
    if (!check_modules(cmd.modules, err)) return 1;
    auto backend = db::open_backend(backend_uri(cfg));
    if (!backend->exists(cmd.database)) {
        err << "atrium-admin: database " << where(cfg, cmd.database) << " does not exist (create it with --init)\n";
        return 1;
    }
    auto database = backend->open(cmd.database);
    if (!modules::is_atrium_database(*database)) {
        err << "atrium-admin: database " << where(cfg, cmd.database)
            << " is not an Atrium database (initialise it with --init)\n";
        return 1;
    }
    if (cmd.modules.empty()) modules::update_database(database);
    else modules::init_database(database, cmd.modules, cmd.admin_password.value_or(""));
    tpc::ensure_database_id(*database);  // databases made before two-phase-commit ids get theirs
    out << "atrium-admin: " << where(cfg, cmd.database) << " updated; active modules:";
    for (const auto& m : modules::active_modules(*database)) out << ' ' << m;
    out << std::endl;
    return 0;
}

int run_list_modules(const config& cfg, const module_command& cmd, std::ostream& out, std::ostream& err) {
    std::vector<std::string> active;
    bool have_database = false;
    try {
        auto backend = db::open_backend(backend_uri(cfg));
        if (backend->exists(cmd.database)) {
            auto database = backend->open(cmd.database);
            have_database = modules::is_atrium_database(*database);
            if (have_database) active = modules::active_modules(*database);
        }
    } catch (const std::exception& e) {
        err << "atrium-admin: cannot read database " << where(cfg, cmd.database) << ": " << e.what() << '\n';
    }
    const auto& registry = modules::builtin_modules();
    for (const auto& name : registry.names()) {
        const auto* m = registry.find(name);
        out << name;
        if (have_database)
            out << '\t' << (std::find(active.begin(), active.end(), name) != active.end() ? "activated" : "not activated");
        out << "\tdepends:";
        for (const auto& d : m->depends) out << ' ' << d;
        out << '\t' << m->description << '\n';
    }
    return 0;
}

}  // namespace atrium::server
