#include "modules/model.hpp"
#include "modules/model_parts.hpp"


#include "modules/access.hpp"
#include "modules/dialect.hpp"
#include "modules/domain.hpp"
#include "modules/errors.hpp"
#include "modules/field_access.hpp"
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

// --- helpers ---

void model::check_exist(const ids& records) const {
    if (records.empty()) return;
    const auto u = unique_ids(records);
    auto r = current().connection().execute(
        "SELECT \"id\" FROM " + sql::quote(def_.table) + " WHERE \"id\" IN (" + placeholders(u.size()) + ")",
        id_params(u));
    if (r.size() == u.size()) return;
    std::set<std::int64_t> found;
    for (auto& row : r.rows) found.insert(std::get<std::int64_t>(row[0]));
    for (auto id : u)
        if (!found.contains(id))
            throw user_error("The record " + std::to_string(id) + " of \"" + label(*this) + "\" does not exist.",
                             "It may have been deleted.");
}

namespace {

// Whether `_timestamp` asks for checks: an empty or false value does not (as
// Tryton's `if not transaction.timestamp`); a mapping does; anything else is
// kept as given but cannot name a record: refuse rather than skip the lock.
bool stamps_given(const nlohmann::json& stamps) {
    if (stamps.is_object()) return !stamps.empty();
    if (stamps.is_null() || stamps == false || stamps == 0 || stamps == "" || stamps == nlohmann::json::array())
        return false;
    throw user_error("Invalid \"_timestamp\" in the context: a mapping of \"model,id\" to timestamps is expected, "
                     "not a " + std::string(stamps.type_name()) + ".");
}

}  // namespace

void model::check_timestamps(const ids& records) const {
    auto& txn = current();
    const auto& ctx = txn.context();
    const bool from_txn = stamps_given(txn.timestamp);
    const nlohmann::json* ctx_stamps = ctx.contains("_timestamp") ? &ctx["_timestamp"] : nullptr;
    if (ctx_stamps && !stamps_given(*ctx_stamps)) ctx_stamps = nullptr;
    if (!from_txn && !ctx_stamps) return;
    for (auto id : records) {
        const std::string key = def_.name + "," + std::to_string(id);
        nlohmann::json given;
        if (auto it = txn.timestamp.find(key); from_txn && it != txn.timestamp.end()) {
            given = *it;
            txn.timestamp.erase(it);  // checked once, as Tryton pops it
        } else if (ctx_stamps && ctx_stamps->contains(key)) {
            given = (*ctx_stamps)[key];
        }
        if (given.is_null() || given == "") continue;
        auto r = txn.connection().execute("SELECT \"write_date\", \"create_date\" FROM " + sql::quote(def_.table) +
                                              " WHERE \"id\" = ?",
                                          {id});
        if (r.empty()) continue;
        const auto& stamp = db::is_null(r.rows[0][0]) ? r.rows[0][1] : r.rows[0][0];
        if (db::is_null(stamp)) continue;
        datetime client;
        try {
            if (!given.is_string()) throw value_error("not a timestamp");
            client = datetime::parse_sql(given.get<std::string>());
        } catch (const value_error&) {
            throw concurrency_exception("Records were modified in the meanwhile");
        }
        if (datetime::parse_sql(std::get<std::string>(stamp)) > client)
            throw concurrency_exception("Records were modified in the meanwhile");
    }
}

nlohmann::json model::defaults_for(const std::vector<std::string>& names) const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& f : def_.fields) {
        if (!names.empty() && std::find(names.begin(), names.end(), f.name) == names.end()) continue;
        if (f.default_function) out[f.name] = f.default_function();
        else if (!f.default_value.is_null()) out[f.name] = f.default_value;
    }
    return out;
}

void model::check_writable(const nlohmann::json& values) const {
    if (!values.is_object() || !current().access_checked()) return;
    for (auto it = values.begin(); it != values.end(); ++it) {
        const field* f = find_field(it.key());
        if (f && f->readonly)
            throw user_error("The field \"" + f->string + "\" of \"" + label(*this) + "\" is read-only.");
    }
}

void model::check_values(const nlohmann::json& values, bool creating, std::int64_t id, bool check_targets) const {
    if (!values.is_object()) throw user_error("Values for \"" + label(*this) + "\" must be a mapping.");
    for (auto it = values.begin(); it != values.end(); ++it) {
        const field* f = find_field(it.key());
        if (!f) throw user_error("The field \"" + it.key() + "\" does not exist on \"" + label(*this) + "\".");
        if (k_standard.contains(f->name)) throw user_error("The field \"" + f->string + "\" is set by the system.");
    }
    for (const auto& f : def_.fields) {
        if (!f.required || !f.stored() || k_standard.contains(f.name)) continue;
        const bool given = values.contains(f.name);
        const bool null = given && (values[f.name].is_null() ||
                                    (f.type != field_type::boolean && values[f.name] == false) ||
                                    (values[f.name].is_string() && values[f.name].get<std::string>().empty() &&
                                     (f.type == field_type::char_ || f.type == field_type::selection)));
        if ((creating && !given) || null)
            throw user_error("A value is required for the field \"" + f.string + "\" of \"" + label(*this) + "\"" +
                                 (id ? " (record " + std::to_string(id) + ")" : "") + ".",
                             f.help);
    }
    auto& conn = current().connection();
    if (check_targets) check_many2one_targets(values);
    for (const auto& f : def_.fields) {
        if (!f.unique || !values.contains(f.name) || values[f.name].is_null()) continue;
        auto r = conn.execute("SELECT \"id\" FROM " + sql::quote(def_.table) + " WHERE " + sql::quote(f.name) +
                                  " = ? AND \"id\" != ?",
                              {to_db(conn, f, values[f.name]), id});
        if (!r.empty())
            throw user_error("The value of the field \"" + f.string + "\" of \"" + label(*this) +
                             "\" must be unique: " + values[f.name].dump() + " is already used (record " +
                             std::to_string(std::get<std::int64_t>(r.rows[0][0])) + ").");
    }
}

void model::check_many2one_targets(const nlohmann::json& values) const {
    auto& conn = current().connection();
    for (const auto& f : def_.fields) {
        // many2one targets must exist (there are no foreign keys in the schema).
        if (f.type != field_type::many2one || !values.contains(f.name)) continue;
        const db::value target = to_db(conn, f, values[f.name]);
        if (db::is_null(target)) continue;
        const model& other = pool_->get(f.relation);
        if (conn.execute("SELECT 1 FROM " + sql::quote(other.table()) + " WHERE \"id\" = ?", {target}).empty())
            throw user_error("The value " + values[f.name].dump() + " of the field \"" + f.string + "\" of \"" +
                             label(*this) + "\" is not a \"" + label(other) + "\" record.");
    }
}

}  // namespace atrium::modules
