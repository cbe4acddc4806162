#include "modules/access.hpp"

#include "modules/dialect.hpp"
#include "modules/registry.hpp"
#include "transaction/transaction.hpp"

#include <set>

namespace atrium::modules {

namespace {

std::set<std::int64_t> user_groups(db::connection& conn, std::int64_t user) {
    std::set<std::int64_t> groups;
    auto r = conn.execute("SELECT \"group\" FROM \"res_user_group\" WHERE \"user\" = ?", {user});
    std::vector<std::int64_t> todo;
    for (auto& row : r.rows) todo.push_back(std::get<std::int64_t>(row[0]));
    // A group inherits the rights of its parent groups.
    while (!todo.empty()) {
        const auto g = todo.back();
        todo.pop_back();
        if (!groups.insert(g).second) continue;
        auto p = conn.execute("SELECT \"parent\" FROM \"res_group\" WHERE \"id\" = ? AND \"parent\" IS NOT NULL", {g});
        for (auto& row : p.rows) todo.push_back(std::get<std::int64_t>(row[0]));
    }
    return groups;
}

access_perms compute(const pool& p, std::int64_t user, const std::string& model) {
    auto& conn = current().connection();
    access_perms perms;
    if (!p.find("ir.model.access")) return perms;  // ir not active: nothing restricts
    auto rows = conn.execute("SELECT \"group\", \"perm_read\", \"perm_write\", \"perm_create\", \"perm_delete\" "
                             "FROM \"ir_model_access\" WHERE \"model\" = ? AND \"active\" = ?",
                             {model, sql::boolean_param(conn, true)});
    if (rows.empty()) return perms;
    const auto groups = p.find("res.group") ? user_groups(conn, user) : std::set<std::int64_t>{};
    perms = access_perms{false, false, false, false};
    auto truth = [](const db::value& v) {
        if (auto* i = std::get_if<std::int64_t>(&v)) return *i != 0;
        return false;
    };
    for (auto& row : rows.rows) {
        if (!db::is_null(row[0]) && !groups.contains(std::get<std::int64_t>(row[0]))) continue;
        perms.read = perms.read || truth(row[1]);
        perms.write = perms.write || truth(row[2]);
        perms.create = perms.create || truth(row[3]);
        perms.remove = perms.remove || truth(row[4]);
    }
    return perms;
}

// The model's own rights, restricted by those of the models it delegates
// access to (model_def::access_delegates: a sale line follows its sale).
access_perms effective(const pool& p, std::int64_t user, const std::string& model, std::set<std::string>& seen) {
    access_perms perms = compute(p, user, model);
    if (!seen.insert(model).second) return perms;
    if (const auto* m = p.find(model)) {
        for (const auto& delegate : m->definition().access_delegates) {
            const auto d = effective(p, user, delegate, seen);
            perms.read = perms.read && d.read;
            perms.write = perms.write && d.write;
            perms.create = perms.create && d.create;
            perms.remove = perms.remove && d.remove;
        }
    }
    return perms;
}

}  // namespace

bool access_allowed(const pool& p, std::int64_t user, const std::string& model, std::string_view mode) {
    if (user == root_user) return true;
    auto perms = p.cached_access(user, model);
    if (!perms) {
        std::set<std::string> seen;
        perms = effective(p, user, model, seen);
        p.cache_access(user, model, *perms);
    }
    if (mode == "read") return perms->read;
    if (mode == "write") return perms->write;
    if (mode == "create") return perms->create;
    if (mode == "delete") return perms->remove;
    throw std::logic_error("unknown access mode " + std::string(mode));
}

void invalidate_access(const pool& p) {
    p.clear_access_cache();
    announce_cache_change();  // the other processes (and this one's other pools), at commit
    // A transaction that filled the cache before this change commits could
    // leave old rights behind: clear once more when this transaction ends.
    if (auto* txn = current_or_null()) {
        auto weak = p.weak_from_this();
        txn->atexit([weak] {
            if (auto alive = weak.lock()) alive->clear_access_cache();
        });
    }
}

}  // namespace atrium::modules
