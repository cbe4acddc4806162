#include "modules/registry.hpp"

#include "modules/dialect.hpp"
#include "modules/errors.hpp"
#include "modules/ir/ui.hpp"
#include "modules/view_arch.hpp"
#include "modules/res/users.hpp"
#include "transaction/errors.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <set>
#include <utility>

namespace atrium::modules {

// --- module_registry ---

void module_registry::add(module_def module) {
    const std::string name = module.name;
    if (!modules_.emplace(name, std::move(module)).second)
        throw std::logic_error("module '" + name + "' is registered twice");
}

const module_def* module_registry::find(std::string_view name) const {
    const auto it = modules_.find(name);
    return it == modules_.end() ? nullptr : &it->second;
}

std::vector<std::string> module_registry::names() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : modules_) out.push_back(name);
    return out;
}

std::vector<const module_def*> module_registry::resolve(const std::vector<std::string>& wanted) const {
    std::vector<const module_def*> order;
    std::set<std::string> done;
    std::vector<std::string> path;  // the current dependency chain, for the cycle message
    std::function<void(const std::string&, const std::string&)> visit = [&](const std::string& name,
                                                                            const std::string& needed_by) {
        if (done.contains(name)) return;
        if (std::find(path.begin(), path.end(), name) != path.end()) {
            std::string cycle;
            for (auto it = std::find(path.begin(), path.end(), name); it != path.end(); ++it) cycle += *it + " -> ";
            throw dependency_cycle("module dependency cycle: " + cycle + name);
        }
        const module_def* m = find(name);
        if (!m)
            throw unknown_module("unknown module '" + name + "'" +
                                 (needed_by.empty() ? "" : " (a dependency of '" + needed_by + "')"));
        path.push_back(name);
        for (const auto& dep : m->depends) visit(dep, name);
        path.pop_back();
        done.insert(name);
        order.push_back(m);
    };
    for (const auto& name : wanted) visit(name, "");
    return order;
}

void module_registry::configure(module_config config) {
    auto shared = std::make_shared<const module_config>(std::move(config));
    std::lock_guard lock(config_mutex_);
    config_ = std::move(shared);
}

std::shared_ptr<const module_config> module_registry::configuration() const {
    std::lock_guard lock(config_mutex_);
    return config_;
}

void module_registry::start_modules() const {
    const auto config = configuration();
    for (const auto& [_, m] : modules_)
        if (m.on_server_start) m.on_server_start(*config);
}

// --- pool ---

namespace {

const nlohmann::json& arg(const rpc_call& call, std::size_t index, const char* name) {
    static const nlohmann::json null;
    if (index < call.args.size()) return call.args[index];
    if (call.kwargs.is_object() && call.kwargs.contains(name)) return call.kwargs[name];
    return null;
}

ids to_ids(const nlohmann::json& j) {
    if (j.is_number_integer()) return {j.get<std::int64_t>()};
    if (!j.is_array()) throw user_error("Expected a list of ids, got " + j.dump());
    ids out;
    for (const auto& x : j) {
        if (!x.is_number_integer()) throw user_error("Expected a list of ids, got " + j.dump());
        out.push_back(x.get<std::int64_t>());
    }
    return out;
}

std::vector<std::string> to_names(const nlohmann::json& j) {
    if (j.is_null()) return {};
    if (!j.is_array()) throw user_error("Expected a list of field names, got " + j.dump());
    std::vector<std::string> out;
    for (const auto& x : j) {
        if (!x.is_string()) throw user_error("Expected a list of field names, got " + j.dump());
        out.push_back(x.get<std::string>());
    }
    return out;
}

search_options to_search(const rpc_call& call, std::size_t at) {
    search_options o;
    const auto& offset = arg(call, at, "offset");
    const auto& limit = arg(call, at + 1, "limit");
    if (offset.is_number_integer()) o.offset = offset.get<std::int64_t>();
    if (limit.is_number_integer()) o.limit = limit.get<std::int64_t>();
    // PostgreSQL refuses a negative LIMIT/OFFSET and SQLite reads -1 as "all": say it, on both.
    if (o.offset < 0) throw user_error("Invalid offset " + std::to_string(o.offset) + ": it must be 0 or more");
    if (o.limit && *o.limit < 0)
        throw user_error("Invalid limit " + std::to_string(*o.limit) + ": it must be 0 or more (null: no limit)");
    o.order = arg(call, at + 2, "order");
    return o;
}

nlohmann::json ids_json(const ids& v) { return nlohmann::json(v); }

}  // namespace

pool::pool(const std::vector<const module_def*>& modules, const module_registry& registry) : registry_(registry) {
    for (const auto* m : modules) {
        modules_.push_back(m->name);
        for (const auto& def : m->models) {
            if (models_.contains(def.name))
                throw std::logic_error("model '" + def.name + "' is declared by two modules");
            models_.emplace(def.name, std::make_unique<model>(def, *this));
        }
    }
    for (const auto& [_, m] : models_) expose(*m);
}

void pool::expose(const model& m) {
    const model* self = &m;
    const std::string prefix = "model." + m.name() + ".";
    auto add = [&](std::string method, rpc_definition rpc, std::function<nlohmann::json(const rpc_call&)> fn,
                   std::string doc) {
        exposed_method e{prefix + method, std::move(rpc), std::move(fn), std::move(doc)};
        methods_[e.name] = std::move(e);
    };
    rpc_definition rw;
    rw.readonly = false;
    add("create", rw, [self](const rpc_call& c) { return ids_json(self->create(arg(c, 0, "vlist"))); },
        "create(vlist) -> ids: creates one record per value map.");
    add("read", {}, [self](const rpc_call& c) {
            return self->read(to_ids(arg(c, 0, "ids")), to_names(arg(c, 1, "fields_names")));
        },
        "read(ids, fields_names) -> list of value maps.");
    rpc_definition write_rpc = rw;
    write_rpc.instantiate = {rpc_instantiate::kind::slice, 0, 0, 2};
    add("write", write_rpc, [self](const rpc_call& c) {
            if (c.args.size() < 2 || c.args.size() % 2 != 0)
                throw user_error("write() takes pairs of ids and values.");
            for (std::size_t i = 0; i < c.args.size(); i += 2) self->write(to_ids(c.args[i]), c.args[i + 1]);
            return nlohmann::json(nullptr);
        },
        "write(ids, values, [ids, values, …]): updates the records.");
    rpc_definition del_rpc = rw;
    del_rpc.instantiate = {rpc_instantiate::kind::index, 0};
    add("delete", del_rpc, [self](const rpc_call& c) {
            self->remove(to_ids(arg(c, 0, "records")));
            return nlohmann::json(nullptr);
        },
        "delete(ids): deletes the records.");
    rpc_definition copy_rpc = del_rpc;
    copy_rpc.unique = false;
    add("copy", copy_rpc, [self](const rpc_call& c) {
            const auto& d = arg(c, 1, "default");
            return ids_json(self->copy(to_ids(arg(c, 0, "records")), d.is_object() ? d : nlohmann::json::object()));
        },
        "copy(ids, default) -> ids: duplicates the records.");
    add("search", {}, [self](const rpc_call& c) {
            if (arg(c, 4, "count").is_boolean() && arg(c, 4, "count").get<bool>())
                return nlohmann::json(self->search_count(arg(c, 0, "domain")));
            return ids_json(self->search(arg(c, 0, "domain"), to_search(c, 1)));
        },
        "search(domain, offset, limit, order) -> ids.");
    add("search_count", {}, [self](const rpc_call& c) { return nlohmann::json(self->search_count(arg(c, 0, "domain"))); },
        "search_count(domain) -> number of records.");
    add("search_read", {}, [self](const rpc_call& c) {
            return self->search_read(arg(c, 0, "domain"), to_search(c, 1), to_names(arg(c, 4, "fields_names")));
        },
        "search_read(domain, offset, limit, order, fields_names) -> list of value maps.");
    // The client asks after each form load; no attachments or notes exist.
    add("resources", {}, [](const rpc_call&) {
            return nlohmann::json{{"attachment_count", 0}, {"note_count", 0}, {"note_unread", 0}};
        },
        "resources(id) -> attachment and note counts (always 0).");
    add("default_get", {}, [self](const rpc_call& c) { return self->default_get(to_names(arg(c, 0, "fields_names"))); },
        "default_get(fields_names) -> default values.");
    rpc_definition fields_rpc;
    fields_rpc.cache = 86400;
    add("fields_get", fields_rpc, [self](const rpc_call& c) { return self->fields_get(to_names(arg(c, 0, "fields_names"))); },
        "fields_get(fields_names) -> field definitions.");
    for (auto& e : view_methods(m)) methods_[e.name] = std::move(e);
    for (const auto& cm : m.definition().methods) {
        auto fn = cm.call;
        add(cm.name, cm.rpc, [self, fn](const rpc_call& c) { return fn(*self, c); }, cm.doc);
    }
}

const model& pool::get(std::string_view name) const {
    if (const model* m = find(name)) return *m;
    throw key_error("unknown model '" + std::string(name) + "'");
}

const model* pool::find(std::string_view name) const {
    const auto it = models_.find(name);
    return it == models_.end() ? nullptr : it->second.get();
}

std::vector<std::string> pool::model_names() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : models_) out.push_back(name);
    return out;
}

const exposed_method* pool::find_method(std::string_view full_name) const {
    const auto it = methods_.find(full_name);
    return it == methods_.end() ? nullptr : &it->second;
}

bool pool::has_object(std::string_view type_and_name) const {
    if (!type_and_name.starts_with("model.")) return false;
    return find(type_and_name.substr(6)) != nullptr;
}

std::vector<std::string> pool::method_names() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : methods_) out.push_back(name);
    return out;
}

std::optional<access_perms> pool::cached_access(std::int64_t user, const std::string& model) const {
    // Bound and heard: an entry read under another generation is stale. Not
    // bound or not heard (0: no listener yet): the expiry alone, as entries
    // kept then are read under 0, which a heard generation never is.
    const std::uint64_t generation = generation_ ? generation_->current() : 0;
    std::lock_guard lock(access_mutex_);
    const auto it = access_.find({user, model});
    if (it == access_.end() || std::chrono::steady_clock::now() - it->second.at > access_cache_ttl) return std::nullopt;
    if (it->second.generation != generation) return std::nullopt;
    return it->second.perms;
}

void pool::cache_access(std::int64_t user, const std::string& model, access_perms perms) const {
    std::uint64_t generation = 0;
    if (generation_ && generation_->current() != 0) {
        generation = generation_->stamp(current_or_null());
        if (generation == 0) return;  // read before a change this process heard of
    }
    std::lock_guard lock(access_mutex_);
    access_[{user, model}] = {perms, std::chrono::steady_clock::now(), generation};
}

void pool::clear_access_cache() const {
    std::lock_guard lock(access_mutex_);
    access_.clear();
}

// --- pools per database ---

namespace {

struct cached_pool {
    std::shared_ptr<const pool> p;
    std::chrono::steady_clock::time_point checked;
    std::uint64_t generation = 0;  // of the pool's cache generation when checked (0: re-check)
};
std::mutex pools_mutex;
std::map<std::string, cached_pool>& pools() {
    static std::map<std::string, cached_pool> p;
    return p;
}
pool_clock& pools_clock() {  // under pools_mutex
    static pool_clock clock = [] { return std::chrono::steady_clock::now(); };
    return clock;
}

std::vector<std::string> read_active(db::connection& conn) {
    std::vector<std::string> out;
    if (!sql::table_exists(conn, "ir_module")) return out;
    auto r = conn.execute("SELECT \"name\" FROM \"ir_module\" WHERE \"state\" = ? ORDER BY \"id\"", {"activated"});
    for (auto& row : r.rows) out.push_back(std::get<std::string>(row[0]));
    return out;
}

void activate(const std::shared_ptr<db::database>& database, std::vector<std::string> wanted,
              const std::optional<std::string>& admin_password) {
    auto scope = begin(database, root_user);
    auto& conn = scope->connection();
    for (const auto& name : read_active(conn))
        if (std::find(wanted.begin(), wanted.end(), name) == wanted.end()) wanted.push_back(name);
    const auto order = builtin_modules().resolve(wanted);
    auto p = std::make_shared<pool>(order);
    for (const auto* m : order) {
        for (const auto& def : m->models) p->get(def.name).sync_schema();
        if (m->on_activate) m->on_activate(*p);
        if (!m->ui.empty()) ir::load_ui(*p, m->name, m->ui);
        auto r = conn.execute("SELECT \"id\" FROM \"ir_module\" WHERE \"name\" = ?", {m->name});
        const auto& ir_module = p->get("ir.module");
        if (r.empty())
            ir_module.create(nlohmann::json::array({{{"name", m->name}, {"state", "activated"}}}));
        else
            ir_module.write({std::get<std::int64_t>(r.rows[0][0])}, {{"state", "activated"}});
    }
    if (admin_password) res::ensure_admin(*p, *admin_password);
    announce_cache_change();  // every process re-reads the active modules on its next call
    scope.close(true);
    forget_pool(database->name());
}

}  // namespace

std::shared_ptr<const pool> pool_for(db::database& database) {
    std::chrono::steady_clock::time_point now;
    std::shared_ptr<const pool> cached;
    {
        std::lock_guard lock(pools_mutex);
        now = pools_clock()();
        const auto it = pools().find(database.name());
        if (it != pools().end()) {
            // Heard generation: re-checked as soon as it moved. None heard
            // (no listener yet): the interval alone, as before.
            const auto& generation = it->second.p->generation();
            const std::uint64_t now_generation = generation ? generation->current() : 0;
            const bool unmoved = now_generation == 0 || it->second.generation == now_generation;
            if (unmoved && now - it->second.checked < pool::module_check_interval) return it->second.p;
            cached = it->second.p;
        }
    }
    auto& txn = current();
    if (txn.database().get() != &database)
        throw std::logic_error("pool_for() needs a transaction on database '" + database.name() + "'");
    // Another process (atrium-admin --update -u …) may have activated modules.
    auto generation = generation_of(database);
    const std::uint64_t stamp = generation->stamp(&txn);  // before reading: a later change re-checks
    const auto active = read_active(txn.connection());
    auto same = [&] {
        auto a = cached->module_names(), b = active;
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        return a == b;
    };
    std::shared_ptr<const pool> p;
    if (cached && same() && cached->generation() == generation) {
        p = cached;
    } else {
        auto made = std::make_shared<pool>(builtin_modules().resolve(active));
        made->bind_generation(generation);
        p = std::move(made);
    }
    std::lock_guard lock(pools_mutex);
    pools()[database.name()] = {p, now, stamp};
    return p;
}

std::shared_ptr<const pool> current_pool() { return pool_for(*current().database()); }

void forget_pool(const std::string& database_name) {
    std::lock_guard lock(pools_mutex);
    pools().erase(database_name);
}

pool_clock set_pool_clock(pool_clock clock) {
    std::lock_guard lock(pools_mutex);
    std::swap(pools_clock(), clock);
    return clock;
}

void init_database(std::shared_ptr<db::database> database, const std::vector<std::string>& modules,
                   const std::string& admin_password) {
    std::vector<std::string> wanted{"ir", "res"};
    wanted.insert(wanted.end(), modules.begin(), modules.end());
    activate(database, wanted, admin_password);
}

void update_database(std::shared_ptr<db::database> database) {
    if (!is_atrium_database(*database))
        throw std::runtime_error("database '" + database->name() + "' is not an Atrium database (run --init)");
    activate(database, {}, std::nullopt);
}

namespace {
template <class Fn>
auto with_connection(db::database& database, Fn&& fn) {
    auto conn = database.acquire();
    db::begin_options options;
    options.readonly = true;
    conn->begin(options);
    try {
        auto r = fn(*conn);
        conn->rollback();
        conn.return_to_pool();
        return r;
    } catch (...) {
        conn.discard();
        throw;
    }
}
}  // namespace

bool is_atrium_database(db::database& database) {
    return with_connection(database, [](db::connection& conn) {
        return sql::table_exists(conn, "ir_module") && sql::table_exists(conn, "res_user") &&
               sql::table_exists(conn, "ir_model");
    });
}

std::vector<std::string> active_modules(db::database& database) {
    return with_connection(database, [](db::connection& conn) { return read_active(conn); });
}

}  // namespace atrium::modules
