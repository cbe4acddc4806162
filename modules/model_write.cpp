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

void model::write_x2many(const field& f, std::int64_t id, const nlohmann::json& commands) const {
    const model& target = pool_->get(f.relation);
    auto& conn = current().connection();
    if (!commands.is_array()) throw user_error("Invalid value for \"" + f.string + "\": a list of commands.");
    auto link = [&](const ids& targets) {
        for (auto t : targets) {
            if (f.type == field_type::one2many) {
                target.write({t}, {{f.reverse_field, id}});
            } else {
                conn.execute("DELETE FROM " + sql::quote(f.relation_table) + " WHERE " + sql::quote(f.origin_column) +
                                 " = ? AND " + sql::quote(f.target_column) + " = ?",
                             {id, t});
                conn.execute("INSERT INTO " + sql::quote(f.relation_table) + " (" + sql::quote(f.origin_column) +
                                 ", " + sql::quote(f.target_column) + ") VALUES (?, ?)",
                             {id, t});
            }
        }
    };
    auto unlink = [&](const ids& targets) {
        for (auto t : targets) {
            if (f.type == field_type::one2many) {
                target.write({t}, {{f.reverse_field, nullptr}});
            } else {
                conn.execute("DELETE FROM " + sql::quote(f.relation_table) + " WHERE " + sql::quote(f.origin_column) +
                                 " = ? AND " + sql::quote(f.target_column) + " = ?",
                             {id, t});
            }
        }
    };
    auto current_targets = [&]() -> ids {
        return read({id}, {f.name})[0][f.name].get<ids>();
    };
    for (const auto& cmd : commands) {
        if (!cmd.is_array() || cmd.empty() || !cmd[0].is_string())
            throw user_error("Invalid command for \"" + f.string + "\": " + cmd.dump());
        const auto op = cmd[0].get<std::string>();
        const nlohmann::json arg = cmd.size() > 1 ? cmd[1] : nlohmann::json::array();
        if (op == "create") {
            nlohmann::json vlist = arg.is_array() ? arg : nlohmann::json::array({arg});
            if (f.type == field_type::one2many) {
                for (auto& v : vlist) v[f.reverse_field] = id;
                target.create(vlist);
            } else {
                link(target.create(vlist));
            }
        } else if (op == "add") {
            link(as_ids(arg, f.string));
        } else if (op == "remove") {
            unlink(as_ids(arg, f.string));
        } else if (op == "set") {
            const ids wanted = as_ids(arg, f.string);
            ids drop;
            for (auto t : current_targets())
                if (std::find(wanted.begin(), wanted.end(), t) == wanted.end()) drop.push_back(t);
            unlink(drop);
            link(wanted);
        } else if (op == "write") {
            if (cmd.size() != 3) throw user_error("Invalid command for \"" + f.string + "\": " + cmd.dump());
            target.write(as_ids(arg, f.string), cmd[2]);
        } else if (op == "delete") {
            target.remove(as_ids(arg, f.string));
        } else {
            throw user_error("Unknown command \"" + op + "\" for \"" + f.string + "\".");
        }
    }
}

// --- generic methods ---

ids model::create(const nlohmann::json& vlist_in) const {
    require_access("create");
    if (!vlist_in.is_array()) throw user_error("create() takes a list of values for \"" + label(*this) + "\".");
    auto& txn = current();
    auto& conn = txn.connection();
    ++txn.counter;
    const std::string now = datetime::now().to_sql();
    const nlohmann::json defaults = defaults_for({});
    ids created;
    for (const auto& given : vlist_in) {
        if (!given.is_object()) throw user_error("create() takes a list of values for \"" + label(*this) + "\".");
        nlohmann::json values = defaults;
        for (auto it = given.begin(); it != given.end(); ++it) values[it.key()] = it.value();
        if (def_.prepare_values) def_.prepare_values(values);
        check_values(values, true, 0, /*check_targets=*/false);
        std::string cols = "\"create_uid\", \"create_date\"";
        std::string exprs = "?, ?";
        std::string returning = "\"id\"";
        std::size_t targets = 0;  // many2one values, looked up by the INSERT itself
        std::vector<db::value> params{txn.user(), now};
        for (auto it = values.begin(); it != values.end(); ++it) {
            const field& f = get_field(it.key());
            if (!f.stored()) continue;
            cols += ", " + sql::quote(f.name);
            params.push_back(to_db(conn, f, it.value()));
            if (f.type == field_type::many2one && !db::is_null(params.back())) {
                // NULL when the target does not exist: no extra round trip for the check.
                exprs += ", (SELECT \"id\" FROM " + sql::quote(pool_->get(f.relation).table()) + " WHERE \"id\" = ?)";
                returning += ", " + sql::quote(f.name);
                ++targets;
            } else {
                exprs += ", ?";
            }
        }
        auto r = conn.execute("INSERT INTO " + sql::quote(def_.table) + " (" + cols + ") VALUES (" + exprs +
                                  ") RETURNING " + returning,
                              params);
        const std::int64_t id = std::get<std::int64_t>(r.rows.at(0).at(0));
        for (std::size_t i = 1; i <= targets; ++i) {
            if (!db::is_null(r.rows.at(0).at(i))) continue;
            // A target is missing: undo the row, then say which value is wrong.
            conn.execute("DELETE FROM " + sql::quote(def_.table) + " WHERE \"id\" = ?", {id});
            check_many2one_targets(values);
            throw user_error("A many2one value of \"" + label(*this) + "\" is not an existing record.");
        }
        created.push_back(id);
        for (auto it = values.begin(); it != values.end(); ++it) {
            const field& f = get_field(it.key());
            if (is_x2many(f)) write_x2many(f, id, it.value());
        }
    }
    auto& list = txn.create_records[def_.name];
    list.insert(list.end(), created.begin(), created.end());
    if (def_.invalidates_access) invalidate_access(*pool_);
    if (def_.validate) {
        auto guard = without_check_access();
        def_.validate(*this, created);
    }
    return created;
}

void model::write(const ids& records_in, const nlohmann::json& values_in) const {
    require_access("write");
    check_writable(values_in);
    nlohmann::json values = values_in;
    if (def_.prepare_values) def_.prepare_values(values);
    auto& txn = current();
    auto& conn = txn.connection();
    const ids records = unique_ids(records_in);
    if (records.empty()) return;
    ++txn.counter;
    check_exist(records);
    check_timestamps(records);
    check_values(values, false, records.size() == 1 ? records[0] : 0);
    for (const auto& f : def_.fields)
        if (f.unique && values.contains(f.name) && !values[f.name].is_null() && records.size() > 1)
            throw user_error("The value of the field \"" + f.string + "\" of \"" + label(*this) +
                             "\" must be unique: it cannot be written on several records.");
    std::string sets = "\"write_uid\" = ?, \"write_date\" = ?";
    std::vector<db::value> params{txn.user(), datetime::now().to_sql()};
    for (auto it = values.begin(); it != values.end(); ++it) {
        const field& f = get_field(it.key());
        if (!f.stored()) continue;
        sets += ", " + sql::quote(f.name) + " = ?";
        params.push_back(to_db(conn, f, it.value()));
    }
    params.insert(params.end(), records.begin(), records.end());
    conn.execute("UPDATE " + sql::quote(def_.table) + " SET " + sets + " WHERE \"id\" IN (" +
                     placeholders(records.size()) + ")",
                 params);
    for (auto it = values.begin(); it != values.end(); ++it) {
        const field& f = get_field(it.key());
        if (is_x2many(f))
            for (auto id : records) write_x2many(f, id, it.value());
    }
    if (def_.invalidates_access) invalidate_access(*pool_);
    if (def_.validate) {
        auto guard = without_check_access();
        def_.validate(*this, records);
    }
    if (def_.after_write) {
        auto guard = without_check_access();
        def_.after_write(*this, records, values);
    }
}

void model::remove(const ids& records_in) const {
    require_access("delete");
    auto& txn = current();
    auto& conn = txn.connection();
    const ids records = unique_ids(records_in);
    if (records.empty()) return;
    ++txn.counter;
    check_exist(records);
    check_timestamps(records);
    std::function<void()> after;
    if (def_.on_delete) {
        auto guard = without_check_access();
        after = def_.on_delete(*this, records);
    }
    {
        // What points here: cascade deletes, other references are cleared.
        auto guard = without_check_access();
        for (const auto& other_name : pool_->model_names()) {
            const model& other = pool_->get(other_name);
            for (const auto& f : other.definition().fields) {
                if (f.relation != def_.name) continue;
                if (f.type == field_type::many2one) {
                    const std::string where = sql::quote(f.name) + " IN (" + placeholders(records.size()) + ")";
                    if (f.cascade) {
                        auto r = conn.execute("SELECT \"id\" FROM " + sql::quote(other.table()) + " WHERE " + where,
                                              id_params(records));
                        ids children;
                        for (auto& row : r.rows) children.push_back(std::get<std::int64_t>(row[0]));
                        if (&other == this)
                            std::erase_if(children, [&](std::int64_t c) {
                                return std::find(records.begin(), records.end(), c) != records.end();
                            });
                        other.remove(children);
                    } else if (f.name != "create_uid" && f.name != "write_uid") {
                        conn.execute("UPDATE " + sql::quote(other.table()) + " SET " + sql::quote(f.name) +
                                         " = NULL WHERE " + where,
                                     id_params(records));
                    }
                } else if (f.type == field_type::many2many) {
                    conn.execute("DELETE FROM " + sql::quote(f.relation_table) + " WHERE " +
                                     sql::quote(f.target_column) + " IN (" + placeholders(records.size()) + ")",
                                 id_params(records));
                }
            }
        }
        for (const auto& f : def_.fields)
            if (f.type == field_type::many2many)
                conn.execute("DELETE FROM " + sql::quote(f.relation_table) + " WHERE " + sql::quote(f.origin_column) +
                                 " IN (" + placeholders(records.size()) + ")",
                             id_params(records));
    }
    conn.execute("DELETE FROM " + sql::quote(def_.table) + " WHERE \"id\" IN (" + placeholders(records.size()) + ")",
                 id_params(records));
    txn.delete_records[def_.name].insert(records.begin(), records.end());
    if (def_.invalidates_access) invalidate_access(*pool_);
    if (after) {
        auto guard = without_check_access();
        after();
    }
}

ids model::copy(const ids& records, const nlohmann::json& defaults) const {
    ids out;
    for (auto id : records) {
        nlohmann::json v = read({id})[0];
        nlohmann::json values = nlohmann::json::object();
        for (const auto& f : def_.fields) {
            if (k_standard.contains(f.name) || f.type == field_type::one2many) continue;
            if (f.type == field_type::many2many)
                values[f.name] = nlohmann::json::array({nlohmann::json::array({"add", v[f.name]})});
            else
                values[f.name] = v[f.name];
        }
        if (defaults.is_object())
            for (auto it = defaults.begin(); it != defaults.end(); ++it) values[it.key()] = it.value();
        auto created = create(nlohmann::json::array({values}));
        out.push_back(created.at(0));
    }
    return out;
}

}  // namespace atrium::modules
