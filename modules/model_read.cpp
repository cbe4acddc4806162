#include "modules/model.hpp"
#include "modules/model_parts.hpp"


#include "modules/access.hpp"
#include "modules/dialect.hpp"
#include "modules/domain.hpp"
#include "modules/errors.hpp"
#include "modules/field_access.hpp"
#include "modules/field_definition.hpp"
#include "modules/registry.hpp"
#include "transaction/errors.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace atrium::modules {

using namespace model_detail;

std::string model::order_by(const nlohmann::json& order) const {
    std::vector<std::pair<std::string, std::string>> items;
    if (order.is_null()) {
        items = def_.order;
    } else {
        if (!order.is_array()) throw user_error("Invalid order: " + order.dump());
        for (const auto& o : order) {
            if (o.is_string()) {
                items.emplace_back(o.get<std::string>(), "ASC");
            } else if (o.is_array() && !o.empty() && o[0].is_string()) {
                items.emplace_back(o[0].get<std::string>(),
                                   o.size() > 1 && o[1].is_string() ? o[1].get<std::string>() : "ASC");
            } else {
                throw user_error("Invalid order: " + order.dump());
            }
        }
    }
    std::string out;
    bool has_id = false;
    for (auto [name, dir] : items) {
        check_path_readable(*this, name);  // ordering by a secret field would reveal it
        const field* f = find_field(name);
        if (!f || !f->stored()) throw user_error("Cannot order \"" + label(*this) + "\" by \"" + name + "\".");
        std::transform(dir.begin(), dir.end(), dir.begin(), ::toupper);
        if (dir != "ASC" && dir != "DESC") throw user_error("Invalid order direction \"" + dir + "\".");
        std::string col = sql::quote(name);
        if (f->type == field_type::numeric) col = sql::numeric_expression(current().connection(), col);
        // NULL sorts as the smallest value on both backends.
        out += (out.empty() ? "" : ", ") + col + " " + dir + (dir == "ASC" ? " NULLS FIRST" : " NULLS LAST");
        has_id = has_id || name == "id";
    }
    if (!has_id) out += (out.empty() ? "" : ", ") + std::string("\"id\" ASC");
    return out;
}

nlohmann::json model::read(const ids& records, const std::vector<std::string>& names_in) const {
    require_access("read");
    auto& conn = current().connection();
    const client_read_plan plan = plan_client_read(*this, names_in);
    std::vector<std::string> names = plan.names;
    if (names_in.empty())
        for (const auto& f : def_.fields)
            if (!f.secret) names.push_back(f.name);
    std::vector<const field*> stored, x2m;
    bool stamp = false;
    for (const auto& n : names) {
        if (n == "_timestamp") {
            stamp = true;
            continue;
        }
        check_path_readable(*this, n);  // a secret or unreadable path is refused before it is reported unknown
        const field* f = find_field(n);
        if (!f) throw user_error("The field \"" + n + "\" does not exist on \"" + label(*this) + "\".");
        (f->stored() ? stored : x2m).push_back(f);
    }
    nlohmann::json out = nlohmann::json::array();
    if (records.empty()) return out;
    const auto u = unique_ids(records);
    std::string cols = "\"id\", \"write_date\", \"create_date\"";
    for (const auto* f : stored) cols += ", " + sql::quote(f->name);
    auto r = conn.execute("SELECT " + cols + " FROM " + sql::quote(def_.table) + " WHERE \"id\" IN (" +
                              placeholders(u.size()) + ")",
                          id_params(u));
    std::map<std::int64_t, nlohmann::json> by_id;
    for (auto& row : r.rows) {
        nlohmann::json v = nlohmann::json::object();
        const auto id = std::get<std::int64_t>(row[0]);
        v["id"] = id;
        for (std::size_t i = 0; i < stored.size(); ++i) v[stored[i]->name] = from_db(*stored[i], row[3 + i]);
        if (stamp) {
            const auto& s = db::is_null(row[1]) ? row[2] : row[1];
            v["_timestamp"] = db::is_null(s) ? nlohmann::json(nullptr)
                                             : nlohmann::json(datetime::parse_sql(std::get<std::string>(s)).to_sql());
        }
        for (const auto* f : x2m) v[f->name] = nlohmann::json::array();
        by_id.emplace(id, std::move(v));
    }
    for (auto id : u)
        if (!by_id.contains(id))
            throw user_error("The record " + std::to_string(id) + " of \"" + label(*this) + "\" does not exist.",
                             "It may have been deleted.");
    for (const auto* f : x2m) {
        if (f->type == field_type::one2many) {
            const model& target = pool_->get(f->relation);
            auto rr = conn.execute("SELECT \"id\", " + sql::quote(f->reverse_field) + " FROM " +
                                       sql::quote(target.table()) + " WHERE " + sql::quote(f->reverse_field) +
                                       " IN (" + placeholders(u.size()) + ") ORDER BY " + target.order_by(nullptr),
                                   id_params(u));
            for (auto& row : rr.rows)
                by_id[std::get<std::int64_t>(row[1])][f->name].push_back(std::get<std::int64_t>(row[0]));
        } else {
            auto rr = conn.execute("SELECT " + sql::quote(f->origin_column) + ", " + sql::quote(f->target_column) +
                                       " FROM " + sql::quote(f->relation_table) + " WHERE " +
                                       sql::quote(f->origin_column) + " IN (" + placeholders(u.size()) +
                                       ") ORDER BY \"id\"",
                                   id_params(u));
            for (auto& row : rr.rows)
                by_id[std::get<std::int64_t>(row[0])][f->name].push_back(std::get<std::int64_t>(row[1]));
        }
    }
    for (auto id : records) out.push_back(by_id[id]);  // id is always returned, as in Tryton
    complete_client_read(*this, plan, out);
    return out;
}

ids model::search(const nlohmann::json& domain_in, const search_options& options) const {
    require_access("read");
    auto& conn = current().connection();
    nlohmann::json domain = domain_in.is_null() ? nlohmann::json::array() : domain_in;
    if (has_active() && current().active_records() && !domain_mentions(domain, "active"))
        domain = nlohmann::json::array({domain, nlohmann::json::array({"active", "=", true})});
    auto where = compile_domain(*this, domain);
    std::string q = "SELECT \"id\" FROM " + sql::quote(def_.table) + " WHERE " + where.sql + " ORDER BY " +
                    order_by(options.order);
    if (options.limit) {
        q += " LIMIT ?";
        where.params.emplace_back(std::in_place_type<std::int64_t>, *options.limit);
    } else if (options.offset) {
        q += sql::is_postgresql(conn) ? " LIMIT ALL" : " LIMIT -1";
    }
    if (options.offset) {
        q += " OFFSET ?";
        where.params.emplace_back(std::in_place_type<std::int64_t>, options.offset);
    }
    // `like` is case-sensitive on both backends (the SQLite connection sets
    // case_sensitive_like); `ilike` lowers both sides.
    auto r = conn.execute(q, where.params);
    ids out;
    for (auto& row : r.rows) out.push_back(std::get<std::int64_t>(row[0]));
    return out;
}

std::int64_t model::search_count(const nlohmann::json& domain) const { return search(domain).size(); }

nlohmann::json model::search_read(const nlohmann::json& domain, const search_options& options,
                                  const std::vector<std::string>& names) const {
    for (const auto& n : names) check_path_readable(*this, n);  // refused before anything is searched
    return read(search(domain, options), names);
}

nlohmann::json model::fields_get(const std::vector<std::string>& names) const {
    nlohmann::json out = nlohmann::json::object();
    const bool checked = current().access_checked();
    for (const auto& f : def_.fields) {
        if (!names.empty() && std::find(names.begin(), names.end(), f.name) == names.end()) continue;
        if (f.secret && checked) continue;  // as Tryton leaves out fields the caller may not read
        out[f.name] = field_definition(*this, f);
    }
    // Every model has rec_name (read answers it); fields_get(null) lists it, as trytond.
    if ((names.empty() || std::find(names.begin(), names.end(), "rec_name") != names.end()) && !find_field("rec_name"))
        out["rec_name"] = rec_name_definition();
    return out;
}

nlohmann::json model::default_get(const std::vector<std::string>& names) const { return defaults_for(names); }

std::vector<record> model::browse(const ids& records, const std::vector<std::string>& names) const {
    std::vector<record> out;
    for (auto& v : read(records, names)) out.emplace_back(v["id"].get<std::int64_t>(), std::move(v));
    return out;
}

record model::browse(std::int64_t id, const std::vector<std::string>& names) const {
    return std::move(browse(ids{id}, names).at(0));
}

}  // namespace atrium::modules
