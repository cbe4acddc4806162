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

}  // namespace atrium::modules
