#include "modules/model.hpp"

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

namespace {

const std::set<std::string, std::less<>> k_standard = {"id", "create_uid", "create_date", "write_uid",
                                                        "write_date"};

std::string placeholders(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += i ? ", ?" : "?";
    return s;
}

std::vector<db::value> id_params(const ids& records) { return {records.begin(), records.end()}; }

ids unique_ids(const ids& records) {
    ids out;
    std::set<std::int64_t> seen;
    for (auto id : records)
        if (seen.insert(id).second) out.push_back(id);
    return out;
}

std::string label(const model& m) {
    return m.definition().description.empty() ? m.name() : m.definition().description;
}

bool is_x2many(const field& f) { return f.type == field_type::one2many || f.type == field_type::many2many; }

std::int64_t as_id(const nlohmann::json& j, const std::string& what) {
    if (!j.is_number_integer()) throw user_error("Invalid id for " + what + ": " + j.dump());
    return j.get<std::int64_t>();
}

ids as_ids(const nlohmann::json& j, const std::string& what) {
    ids out;
    if (j.is_number_integer()) return {j.get<std::int64_t>()};
    if (!j.is_array()) throw user_error("Invalid ids for " + what + ": " + j.dump());
    for (const auto& x : j) out.push_back(as_id(x, what));
    return out;
}

// Any number with an integral value fits an integer field, as Tryton's
// int(value) does: a JSON integer, an integral float, an integral Decimal.
std::optional<std::int64_t> integral_value(const nlohmann::json& v) {
    if (v.is_number_unsigned()) {
        if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return std::nullopt;
        return static_cast<std::int64_t>(v.get<std::uint64_t>());
    }
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_float()) {
        const double d = v.get<double>();
        // 2^63 is exactly representable; the int64 range is [-2^63, 2^63).
        if (!std::isfinite(d) || std::trunc(d) != d || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return std::nullopt;
        return static_cast<std::int64_t>(d);
    }
    if (v.is_object()) return decimal_from_json(v).to_integer();  // value_error if not a Decimal
    return std::nullopt;
}

}  // namespace

// --- conversion ---

db::value to_db(const db::connection& conn, const field& f, const nlohmann::json& v) {
    if (v.is_null() || (f.type != field_type::boolean && v.is_boolean() && !v.get<bool>())) return nullptr;
    auto bad = [&](const std::string& why = {}) -> db::value {
        throw user_error("The value " + v.dump() + " is not valid for the field \"" + f.string + "\"" +
                         (why.empty() ? "" : ": " + why) + ".");
    };
    try {
        switch (f.type) {
        case field_type::boolean:
            if (v.is_boolean()) return sql::boolean_param(conn, v.get<bool>());
            if (v.is_number_integer()) return sql::boolean_param(conn, v.get<std::int64_t>() != 0);
            return bad();
        case field_type::integer:
        case field_type::many2one:
            if (auto i = integral_value(v)) return *i;
            if (v.is_number() || v.is_object()) return bad("not an integer");
            return bad();
        case field_type::float_:
            if (v.is_number()) return v.get<double>();
            return bad();
        case field_type::numeric: {
            if (v.is_number_float()) return bad("use a Decimal, not a binary float");
            decimal d = decimal_from_json(v);
            if (f.digits >= 0) d = d.rounded(f.digits);
            return d.to_string();
        }
        case field_type::char_:
        case field_type::text:
            if (v.is_string()) return v.get<std::string>();
            return bad();
        case field_type::selection: {
            if (!v.is_string()) return bad();
            const auto s = v.get<std::string>();
            for (const auto& [key, _] : f.selection)
                if (key == s) return s;
            return bad("not one of the choices");
        }
        case field_type::date: return date_from_json(v).to_iso();
        case field_type::datetime: return datetime_from_json(v).to_sql();
        case field_type::binary: return db::blob{bytes_from_json(v)};
        case field_type::one2many:
        case field_type::many2many: break;
        }
    } catch (const value_error& e) {
        return bad(e.what());
    }
    throw std::logic_error("x2many field has no column");
}

nlohmann::json from_db(const field& f, const db::value& v) {
    if (db::is_null(v)) return f.type == field_type::boolean ? nlohmann::json(false) : nlohmann::json(nullptr);
    switch (f.type) {
    case field_type::boolean:
        if (auto* i = std::get_if<std::int64_t>(&v)) return *i != 0;
        return std::get<std::string>(v) == "t" || std::get<std::string>(v) == "true";
    case field_type::integer:
    case field_type::many2one:
        if (auto* i = std::get_if<std::int64_t>(&v)) return *i;
        return std::stoll(std::get<std::string>(v));
    case field_type::float_:
        if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
        if (auto* d = std::get_if<double>(&v)) return *d;
        return std::stod(std::get<std::string>(v));
    case field_type::numeric:
        if (auto* i = std::get_if<std::int64_t>(&v)) return to_json(decimal(*i));
        return to_json(decimal::parse(std::get<std::string>(v)));
    case field_type::date: return to_json(date::parse_iso(std::get<std::string>(v)));
    case field_type::datetime: return to_json(datetime::parse_sql(std::get<std::string>(v)));
    case field_type::binary:
        if (auto* b = std::get_if<db::blob>(&v)) return bytes_to_json(b->bytes);
        return bytes_to_json({std::get<std::string>(v).begin(), std::get<std::string>(v).end()});
    default:
        if (auto* s = std::get_if<std::string>(&v)) return *s;
        if (auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
        return nullptr;
    }
}

// --- record ---

const nlohmann::json& record::raw(const std::string& name) const {
    if (!values_.contains(name)) throw key_error("field '" + name + "' was not read");
    return values_[name];
}
bool record::is_null(const std::string& name) const { return raw(name).is_null(); }

template <>
bool record::get<bool>(const std::string& n) const { return raw(n).is_boolean() && raw(n).get<bool>(); }
template <>
std::int64_t record::get<std::int64_t>(const std::string& n) const {
    if (!raw(n).is_number_integer()) throw value_error("field '" + n + "' is not set");
    return raw(n).get<std::int64_t>();
}
template <>
int record::get<int>(const std::string& n) const { return static_cast<int>(get<std::int64_t>(n)); }
template <>
double record::get<double>(const std::string& n) const {
    if (!raw(n).is_number()) throw value_error("field '" + n + "' is not set");
    return raw(n).get<double>();
}
template <>
std::string record::get<std::string>(const std::string& n) const {
    if (!raw(n).is_string()) throw value_error("field '" + n + "' is not set");
    return raw(n).get<std::string>();
}
template <>
decimal record::get<decimal>(const std::string& n) const { return decimal_from_json(raw(n)); }
template <>
date record::get<date>(const std::string& n) const { return date_from_json(raw(n)); }
template <>
datetime record::get<datetime>(const std::string& n) const { return datetime_from_json(raw(n)); }
template <>
std::vector<unsigned char> record::get<std::vector<unsigned char>>(const std::string& n) const {
    return bytes_from_json(raw(n));
}
template <>
ids record::get<ids>(const std::string& n) const { return raw(n).get<ids>(); }

// --- definition ---

model_def::model_def(std::string name_, std::string description_)
    : name(std::move(name_)), description(std::move(description_)) {
    table = name;
    std::replace(table.begin(), table.end(), '.', '_');
}
model_def& model_def::add(field f) {
    fields.push_back(std::move(f));
    return *this;
}
model_def& model_def::add(custom_method m) {
    methods.push_back(std::move(m));
    return *this;
}

model::model(model_def def, const pool& owner) : def_(std::move(def)), pool_(&owner) {
    // The standard columns every model has.
    std::vector<field> standard = {fields::integer("id", "ID").set_readonly(),
                                   fields::many2one("create_uid", "res.user", "Create User").set_readonly(),
                                   fields::datetime("create_date", "Created At").set_readonly(),
                                   fields::many2one("write_uid", "res.user", "Write User").set_readonly(),
                                   fields::datetime("write_date", "Edited At").set_readonly()};
    std::vector<field> all;
    for (auto& f : standard)
        if (std::none_of(def_.fields.begin(), def_.fields.end(), [&](const field& x) { return x.name == f.name; }))
            all.push_back(std::move(f));
    for (auto& f : def_.fields) {
        sql::quote(f.name);  // a programming error shows at registration
        all.push_back(std::move(f));
    }
    def_.fields = std::move(all);
    for (std::size_t i = 0; i < def_.fields.size(); ++i) index_.emplace(def_.fields[i].name, i);
}

const field* model::find_field(std::string_view name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &def_.fields[it->second];
}

const field& model::get_field(std::string_view name) const {
    if (const field* f = find_field(name)) return *f;
    throw key_error("model '" + def_.name + "' has no field '" + std::string(name) + "'");
}

void model::require_access(std::string_view mode) const {
    if (!current().access_checked()) return;
    if (!access_allowed(*pool_, current().user(), def_.name, mode))
        throw access_error("You are not allowed to " + std::string(mode) + " records of \"" + label(*this) + "\".",
                           "Model access rule for model \"" + def_.name + "\" and mode \"" + std::string(mode) +
                               "\"");
}

// --- schema ---

void model::sync_schema() const {
    auto& conn = current().connection();
    const std::string table = sql::quote(def_.table);
    if (!sql::table_exists(conn, def_.table)) conn.execute("CREATE TABLE " + table + " (" + sql::id_column(conn) + ")");
    auto columns = sql::table_columns(conn, def_.table);
    for (const auto& f : def_.fields) {
        if (f.name == "id") continue;
        if (f.stored() && !columns.contains(f.name)) {
            conn.execute("ALTER TABLE " + table + " ADD COLUMN " + sql::quote(f.name) + " " +
                         sql::column_type(conn, f.type));
        }
        if (f.unique) {
            conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS " + sql::quote(def_.table + "_" + f.name + "_uniq") +
                         " ON " + table + " (" + sql::quote(f.name) + ")");
        }
        // Many2ones are indexed for searches and cascades, except the audit
        // columns: nobody searches by them, and each index is one more page
        // written by every insert (as in Tryton, which leaves them unindexed).
        if (f.type == field_type::many2one && f.name != "create_uid" && f.name != "write_uid") {
            conn.execute("CREATE INDEX IF NOT EXISTS " + sql::quote(def_.table + "_" + f.name + "_idx") + " ON " +
                         table + " (" + sql::quote(f.name) + ")");
        }
        if (f.type == field_type::many2many && !sql::table_exists(conn, f.relation_table)) {
            const std::string int_type = sql::column_type(conn, field_type::integer);
            conn.execute("CREATE TABLE " + sql::quote(f.relation_table) + " (" + sql::id_column(conn) + ", " +
                         sql::quote(f.origin_column) + " " + int_type + " NOT NULL, " + sql::quote(f.target_column) +
                         " " + int_type + " NOT NULL, UNIQUE (" + sql::quote(f.origin_column) + ", " +
                         sql::quote(f.target_column) + "))");
        }
    }
}

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

void model::check_values(const nlohmann::json& values, bool creating, std::int64_t id, bool check_targets) const {
    if (!values.is_object()) throw user_error("Values for \"" + label(*this) + "\" must be a mapping.");
    for (auto it = values.begin(); it != values.end(); ++it) {
        const field* f = find_field(it.key());
        if (!f) throw user_error("The field \"" + it.key() + "\" does not exist on \"" + label(*this) + "\".");
        if (k_standard.contains(f->name)) throw user_error("The field \"" + f->string + "\" is set by the system.");
        if (!creating && f->readonly && current().access_checked())
            throw user_error("The field \"" + f->string + "\" of \"" + label(*this) + "\" is read-only.");
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

nlohmann::json model::read(const ids& records, const std::vector<std::string>& names_in) const {
    require_access("read");
    auto& conn = current().connection();
    std::vector<std::string> names = names_in;
    if (names.empty())
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
    for (auto id : records) {
        nlohmann::json v = by_id[id];
        if (std::find(names.begin(), names.end(), "id") == names.end() && !names_in.empty()) {
            // id is always returned, as in Tryton
        }
        out.push_back(std::move(v));
    }
    return out;
}

void model::write(const ids& records_in, const nlohmann::json& values_in) const {
    require_access("write");
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

nlohmann::json model::fields_get(const std::vector<std::string>& names) const {
    nlohmann::json out = nlohmann::json::object();
    const bool checked = current().access_checked();
    for (const auto& f : def_.fields) {
        if (!names.empty() && std::find(names.begin(), names.end(), f.name) == names.end()) continue;
        if (f.secret && checked) continue;  // as Tryton leaves out fields the caller may not read
        nlohmann::json d = {{"name", f.name},         {"type", to_string(f.type)}, {"string", f.string},
                            {"help", f.help},         {"required", f.required},    {"readonly", f.readonly},
                            {"relation", f.relation.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.relation)}};
        if (f.type == field_type::selection) {
            d["selection"] = nlohmann::json::array();
            for (const auto& [k, l] : f.selection) d["selection"].push_back({k, l});
        }
        if (f.type == field_type::one2many) d["relation_field"] = f.reverse_field;
        if (f.type == field_type::numeric && f.digits >= 0) d["digits"] = {16, f.digits};
        out[f.name] = std::move(d);
    }
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
