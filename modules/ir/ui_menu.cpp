// ir.ui.menu as a user sees it: a menu is shown when the user is in one of
// its groups (or it has none), may read its action's model, its parent is
// shown, and (a folder) one of its children is shown. search, search_count,
// read and search_read leave the others out, `childs` included, so the
// client never meets an id it may not read.

#include "modules/ir/ui.hpp"

#include "modules/access.hpp"
#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace atrium::modules::ir {

using nlohmann::json;

namespace {

struct menu_row {
    std::int64_t parent = 0;
    std::string action;
    std::vector<std::int64_t> groups, childs;
};

// The user's groups and, through res.group.parent, the groups they inherit from.
std::set<std::int64_t> user_groups(const pool& p, std::int64_t user) {
    std::set<std::int64_t> out;
    const auto users = p.get("res.user").read({user}, {"groups"});
    if (users.empty()) return out;
    std::vector<std::int64_t> todo = users[0]["groups"].get<std::vector<std::int64_t>>();
    const model& groups = p.get("res.group");
    while (!todo.empty()) {
        const auto g = todo.back();
        todo.pop_back();
        if (!out.insert(g).second) continue;
        const auto row = groups.read({g}, {"parent"});
        if (!row.empty() && row[0]["parent"].is_number_integer()) todo.push_back(row[0]["parent"].get<std::int64_t>());
    }
    return out;
}

std::set<std::int64_t> all_visible(const pool& p) {
    auto& txn = current();
    const std::int64_t user = txn.user();
    const bool everything = !txn.access_checked() || user == 0;
    std::map<std::int64_t, menu_row> rows;
    std::set<std::int64_t> groups;
    {
        auto guard = without_check_access();
        for (const auto& r : p.get("ir.ui.menu").search_read(json::array(), {}, {"parent", "action", "groups", "childs"})) {
            menu_row m;
            if (r["parent"].is_number_integer()) m.parent = r["parent"].get<std::int64_t>();
            if (r["action"].is_string()) m.action = r["action"].get<std::string>();
            m.groups = r["groups"].get<std::vector<std::int64_t>>();
            m.childs = r["childs"].get<std::vector<std::int64_t>>();
            rows[r["id"].get<std::int64_t>()] = std::move(m);
        }
        if (!everything) groups = user_groups(p, user);
    }
    std::map<std::string, bool> model_readable;
    auto action_ok = [&](const std::string& action) {
        if (everything || action.empty()) return true;
        const auto comma = action.find(',');
        if (comma == std::string::npos) return false;
        std::string res_model;
        {
            auto guard = without_check_access();
            const auto aw = p.get("ir.action.act_window").read({std::stoll(action.substr(comma + 1))}, {"res_model"});
            if (aw.empty()) return false;
            res_model = aw[0]["res_model"].get<std::string>();
        }
        auto [it, fresh] = model_readable.try_emplace(res_model, false);
        if (fresh) it->second = access_allowed(p, user, res_model, "read");
        return it->second;
    };
    // Own rights (groups, action) first; then the folders without a shown child, then the parents.
    std::map<std::int64_t, bool> own;
    for (const auto& [id, m] : rows) {
        const bool in_group = everything || m.groups.empty() ||
                              std::any_of(m.groups.begin(), m.groups.end(), [&](auto g) { return groups.contains(g); });
        own[id] = in_group && action_ok(m.action);
    }
    std::map<std::int64_t, bool> subtree;  // a leaf shown below (or itself)
    std::function<bool(std::int64_t)> has_shown = [&](std::int64_t id) {
        if (auto it = subtree.find(id); it != subtree.end()) return it->second;
        subtree[id] = false;  // a cycle shows nothing
        const auto& m = rows[id];
        bool shown = false;
        if (own[id]) {
            if (!m.action.empty()) shown = true;
            for (auto c : m.childs) shown = has_shown(c) || shown;
        }
        return subtree[id] = shown;
    };
    std::set<std::int64_t> out;
    for (const auto& [id, m] : rows) {
        bool shown = has_shown(id);
        for (auto parent = m.parent; shown && parent; parent = rows[parent].parent) shown = own[parent];
        if (shown) out.insert(id);
    }
    return out;
}

const json& argument(const rpc_call& c, std::size_t at) {
    static const json null;
    return at < c.args.size() ? c.args[at] : null;
}

ids to_ids(const json& j) {
    if (j.is_number_integer()) return {j.get<std::int64_t>()};
    if (!j.is_array()) throw user_error("Expected a list of menu ids, got " + j.dump());
    ids out;
    for (const auto& x : j) {
        if (!x.is_number_integer()) throw user_error("Expected a list of menu ids, got " + j.dump());
        out.push_back(x.get<std::int64_t>());
    }
    return out;
}

ids visible_search(const model& self, const rpc_call& c) {
    search_options all;
    all.order = argument(c, 3);
    const auto found = self.search(argument(c, 0).is_null() ? json::array() : argument(c, 0), all);
    const auto shown = visible_menus(self.owner(), found);
    const json& offset = argument(c, 1);
    const json& limit = argument(c, 2);
    const std::size_t from = offset.is_number_integer() ? static_cast<std::size_t>(std::max<std::int64_t>(0, offset.get<std::int64_t>())) : 0;
    ids out;
    for (std::size_t i = from; i < shown.size(); ++i) {
        if (limit.is_number_integer() && static_cast<std::int64_t>(out.size()) >= limit.get<std::int64_t>()) break;
        out.push_back(shown[i]);
    }
    return out;
}

// read, with what the client asks of menus: rec_name (the full path),
// "parent.rec_name" (as "parent.": {id, rec_name}), _write and _delete.
json visible_read(const model& self, const ids& records, std::vector<std::string> names) {
    const pool& p = self.owner();
    const auto shown = visible_menus(p, records);
    if (shown.size() != std::set<std::int64_t>(records.begin(), records.end()).size())
        throw access_error("You are not allowed to read these menus.", "A menu you cannot see was asked for.");
    const bool all_fields = names.empty();
    std::vector<std::string> extra;
    std::erase_if(names, [&](const std::string& n) {
        const bool special = n == "rec_name" || n == "_write" || n == "_delete" || n.find('.') != std::string::npos;
        if (special) extra.push_back(n);
        return special;
    });
    if (names.empty() && !all_fields) names = {"name"};
    json out = self.read(records, names);
    if (out.empty()) return out;
    const auto visible = all_visible(p);
    json names_of;
    {
        auto guard = without_check_access();
        names_of = self.read(records, {"complete_name", "parent", "action"});
    }
    std::map<std::int64_t, json> info;
    for (const auto& r : names_of) info[r["id"].get<std::int64_t>()] = r;
    auto& txn = current();
    const bool can_write = !txn.access_checked() || access_allowed(p, txn.user(), "ir.ui.menu", "write");
    const bool can_delete = !txn.access_checked() || access_allowed(p, txn.user(), "ir.ui.menu", "delete");
    for (auto& r : out) {
        const auto& i = info[r["id"].get<std::int64_t>()];
        // Tryton's favorite star: null on folders (no star), false/true on leaves.
        if (r.contains("favorite") && !i["action"].is_string()) r["favorite"] = nullptr;
        if (r.contains("childs")) {
            json kept = json::array();
            for (const auto& c : r["childs"])
                if (visible.contains(c.get<std::int64_t>())) kept.push_back(c);
            r["childs"] = kept;
        }
        for (const auto& n : extra) {
            if (n == "rec_name") r["rec_name"] = i["complete_name"];
            else if (n == "_write") r["_write"] = can_write;
            else if (n == "_delete") r["_delete"] = can_delete;
            else if (n.starts_with("parent.")) {
                if (!i["parent"].is_number_integer()) {
                    r["parent."] = nullptr;
                } else {
                    auto guard = without_check_access();
                    const auto parent = self.read({i["parent"].get<std::int64_t>()}, {"complete_name"});
                    r["parent."] = {{"id", i["parent"]}, {"rec_name", parent.at(0)["complete_name"]}};
                }
            } else {
                throw user_error("The field \"" + n + "\" cannot be read on \"UI menu\".");
            }
        }
    }
    return out;
}

std::vector<std::string> to_names(const json& j) {
    if (j.is_null()) return {};
    if (!j.is_array()) throw user_error("Expected a list of field names, got " + j.dump());
    std::vector<std::string> out;
    for (const auto& x : j) {
        if (!x.is_string()) throw user_error("Expected a list of field names, got " + j.dump());
        out.push_back(x.get<std::string>());
    }
    return out;
}

}  // namespace

std::vector<std::int64_t> visible_menus(const pool& p, const std::vector<std::int64_t>& menus) {
    const auto visible = all_visible(p);
    std::vector<std::int64_t> out;
    for (auto id : menus)
        if (visible.contains(id)) out.push_back(id);
    return out;
}

void add_menu_methods(model_def& menu) {
    menu.add(custom_method{"search", {},
                           [](const model& self, const rpc_call& c) {
                               if (argument(c, 4).is_boolean() && argument(c, 4).get<bool>())
                                   return json(visible_search(self, rpc_call{json::array({argument(c, 0)})}).size());
                               return json(visible_search(self, c));
                           },
                           "search(domain, offset, limit, order) -> the ids of the menus the user sees."});
    menu.add(custom_method{"search_count", {},
                           [](const model& self, const rpc_call& c) {
                               return json(visible_search(self, rpc_call{json::array({argument(c, 0)})}).size());
                           },
                           "search_count(domain) -> how many menus the user sees."});
    menu.add(custom_method{"read", {},
                           [](const model& self, const rpc_call& c) {
                               return visible_read(self, to_ids(argument(c, 0)), to_names(argument(c, 1)));
                           },
                           "read(ids, fields_names) -> the menus (rec_name: the full path)."});
    menu.add(custom_method{"search_read", {},
                           [](const model& self, const rpc_call& c) {
                               rpc_call s{json::array({argument(c, 0), argument(c, 1), argument(c, 2), argument(c, 3)})};
                               return visible_read(self, visible_search(self, s), to_names(argument(c, 4)));
                           },
                           "search_read(domain, offset, limit, order, fields_names) -> the menus the user sees."});
}

}  // namespace atrium::modules::ir
