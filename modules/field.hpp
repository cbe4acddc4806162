#pragma once
// Field definitions of a model (what a module declares). Built with the
// helpers in namespace fields, refined with the chainable setters:
//   fields::char_field("login", "Login").set_required().set_unique()

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace atrium::modules {

enum class field_type {
    boolean, integer, float_, numeric, char_, text, date, datetime, binary, selection,
    many2one, one2many, many2many
};

std::string_view to_string(field_type type) noexcept;

struct field {
    std::string name;
    field_type type = field_type::char_;
    std::string string;  ///< label
    std::string help;
    bool required = false;
    bool readonly = false;
    bool unique = false;  ///< a unique index (and a clear error before the database says so)
    /// Default value (JSON, §8.5 form) or a function computing it; null: none.
    nlohmann::json default_value;
    std::function<nlohmann::json()> default_function;
    std::vector<std::pair<std::string, std::string>> selection;  ///< value, label
    std::string relation;        ///< many2one/one2many/many2many: target model
    std::string reverse_field;   ///< one2many: the many2one in the target
    std::string relation_table;  ///< many2many: the link table
    std::string origin_column;   ///< many2many: column pointing at this model
    std::string target_column;   ///< many2many: column pointing at the target
    bool cascade = false;        ///< many2one: deleting the target deletes this record
    int digits = -1;             ///< numeric: decimals stored (rounded half away from zero); -1: as given
    bool secret = false;         ///< never read over RPC (password hashes); only explicit internal reads
    /// The client's dynamic attributes (readonly, invisible, required) as PYSON text,
    /// e.g. readonly unless the record is a draft; depends: the fields they read.
    std::string states;
    std::vector<std::string> depends;

    bool stored() const noexcept { return type != field_type::one2many && type != field_type::many2many; }

    field& set_required(bool v = true) { required = v; return *this; }
    field& set_readonly(bool v = true) { readonly = v; return *this; }
    field& set_unique(bool v = true) { unique = v; return *this; }
    field& set_help(std::string v) { help = std::move(v); return *this; }
    field& set_default(nlohmann::json v) { default_value = std::move(v); return *this; }
    field& set_default_function(std::function<nlohmann::json()> fn) { default_function = std::move(fn); return *this; }
    field& set_cascade(bool v = true) { cascade = v; return *this; }
    field& set_digits(int v) { digits = v; return *this; }
    field& set_secret(bool v = true) { secret = v; return *this; }
    field& set_states(std::string pyson, std::vector<std::string> fields) {
        states = std::move(pyson);
        depends = std::move(fields);
        return *this;
    }
};

namespace fields {
field boolean(std::string name, std::string string = {});
field integer(std::string name, std::string string = {});
field float_field(std::string name, std::string string = {});
field numeric(std::string name, std::string string = {}, int digits = -1);
field char_field(std::string name, std::string string = {});
field text(std::string name, std::string string = {});
field date(std::string name, std::string string = {});
field datetime(std::string name, std::string string = {});
field binary(std::string name, std::string string = {});
field selection(std::string name, std::vector<std::pair<std::string, std::string>> values, std::string string = {});
field many2one(std::string name, std::string relation, std::string string = {});
field one2many(std::string name, std::string relation, std::string reverse_field, std::string string = {});
field many2many(std::string name, std::string relation_table, std::string origin_column, std::string target_column,
                std::string relation, std::string string = {});
}  // namespace fields

}  // namespace atrium::modules
