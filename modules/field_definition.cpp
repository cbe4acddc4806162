#include "modules/field_definition.hpp"

#include "modules/model.hpp"
#include "modules/registry.hpp"

namespace atrium::modules {

namespace {

using nlohmann::json;

json common(const std::string& name, std::string_view type, const std::string& string, const std::string& help,
            bool readonly, bool required, bool lazy) {
    return {{"name", name},
            {"type", type},
            {"string", string.empty() ? name : string},
            {"help", help},
            {"readonly", readonly},
            {"required", required},
            {"states", "{}"},  // PYSON texts, decoded by the client
            {"domain", "[]"},
            {"context", "{}"},
            {"depends", json::array()},
            {"on_change", json::array()},
            {"on_change_with", json::array()},
            {"loading", lazy ? "lazy" : "eager"},
            {"searchable", true},
            {"sortable", true},
            {"create", true},
            {"delete", true}};
}

// The target's default order as a plain list, [[field, direction], …].
json order_of(const model& target) {
    json out = json::array();
    for (const auto& [name, dir] : target.definition().order) out.push_back(json::array({name, dir}));
    return out;
}

}  // namespace

json field_definition(const model& m, const field& f) {
    const bool x2m = f.type == field_type::one2many || f.type == field_type::many2many;
    json d = common(f.name, to_string(f.type), f.string, f.help, f.readonly, f.required,
                    x2m || f.type == field_type::binary);
    if (!f.states.empty()) d["states"] = f.states;
    if (!f.depends.empty()) d["depends"] = f.depends;
    switch (f.type) {
    case field_type::char_:
    case field_type::text:
        d["autocomplete"] = json::array();
        d["translate"] = false;
        break;
    case field_type::float_:
        d["digits"] = "null";
        break;
    case field_type::numeric:
        d["digits"] = f.digits >= 0 ? "[16, " + std::to_string(f.digits) + "]" : std::string("null");
        break;
    case field_type::datetime:
        d["format"] = "\"%H:%M:%S\"";  // PYSON text of the time part's format
        break;
    case field_type::selection:
        d["selection"] = json::array();
        for (const auto& [k, l] : f.selection) d["selection"].push_back({k, l});
        d["selection_change_with"] = json::array();
        d["sort"] = false;  // shown in declaration order
        d["help_selection"] = nullptr;
        break;
    case field_type::binary:
        d["filename"] = nullptr;
        d["searchable"] = false;
        d["sortable"] = false;
        break;
    case field_type::many2one:
    case field_type::one2many:
    case field_type::many2many:
        d["relation"] = f.relation;
        d["search_context"] = "{}";
        d["search_order"] = "null";
        d["datetime_field"] = nullptr;
        if (x2m) {
            // The client strips the reverse many2one from line values before sending them.
            if (f.type == field_type::one2many) d["relation_field"] = f.reverse_field;
            if (const model* target = m.owner().find(f.relation)) d["order"] = order_of(*target);
            d["sortable"] = false;
        }
        break;
    default:
        break;
    }
    return d;
}

json rec_name_definition() {
    json d = common("rec_name", "char", "Record Name", "", true, false, false);
    d["autocomplete"] = json::array();
    d["translate"] = false;
    d["sortable"] = false;
    return d;
}

}  // namespace atrium::modules
