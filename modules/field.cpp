#include "modules/field.hpp"

namespace atrium::modules {

std::string_view to_string(field_type type) noexcept {
    switch (type) {
    case field_type::boolean: return "boolean";
    case field_type::integer: return "integer";
    case field_type::float_: return "float";
    case field_type::numeric: return "numeric";
    case field_type::char_: return "char";
    case field_type::text: return "text";
    case field_type::date: return "date";
    case field_type::datetime: return "datetime";
    case field_type::binary: return "binary";
    case field_type::selection: return "selection";
    case field_type::many2one: return "many2one";
    case field_type::one2many: return "one2many";
    case field_type::many2many: return "many2many";
    }
    return "?";
}

namespace fields {

static field make(std::string name, field_type type, std::string string) {
    field f;
    f.string = string.empty() ? name : std::move(string);
    f.name = std::move(name);
    f.type = type;
    return f;
}

field boolean(std::string n, std::string s) { return make(std::move(n), field_type::boolean, std::move(s)); }
field integer(std::string n, std::string s) { return make(std::move(n), field_type::integer, std::move(s)); }
field float_field(std::string n, std::string s) { return make(std::move(n), field_type::float_, std::move(s)); }
field numeric(std::string n, std::string s, int digits) {
    auto f = make(std::move(n), field_type::numeric, std::move(s));
    f.digits = digits;
    return f;
}
field char_field(std::string n, std::string s) { return make(std::move(n), field_type::char_, std::move(s)); }
field text(std::string n, std::string s) { return make(std::move(n), field_type::text, std::move(s)); }
field date(std::string n, std::string s) { return make(std::move(n), field_type::date, std::move(s)); }
field datetime(std::string n, std::string s) { return make(std::move(n), field_type::datetime, std::move(s)); }
field binary(std::string n, std::string s) { return make(std::move(n), field_type::binary, std::move(s)); }
field selection(std::string n, std::vector<std::pair<std::string, std::string>> values, std::string s) {
    auto f = make(std::move(n), field_type::selection, std::move(s));
    f.selection = std::move(values);
    return f;
}
field many2one(std::string n, std::string relation, std::string s) {
    auto f = make(std::move(n), field_type::many2one, std::move(s));
    f.relation = std::move(relation);
    return f;
}
field one2many(std::string n, std::string relation, std::string reverse_field, std::string s) {
    auto f = make(std::move(n), field_type::one2many, std::move(s));
    f.relation = std::move(relation);
    f.reverse_field = std::move(reverse_field);
    return f;
}
field many2many(std::string n, std::string relation_table, std::string origin_column, std::string target_column,
                std::string relation, std::string s) {
    auto f = make(std::move(n), field_type::many2many, std::move(s));
    f.relation_table = std::move(relation_table);
    f.origin_column = std::move(origin_column);
    f.target_column = std::move(target_column);
    f.relation = std::move(relation);
    return f;
}

}  // namespace fields
}  // namespace atrium::modules
