// fields_view_get and view_toolbar_get, on every model: the view stored in
// ir.ui.view (or the default Tryton generates), its arch rewritten as the
// client expects (buttons' string/help/confirm/states/type, x2many mode and
// preloaded sub-views, fields the user may not read taken out), and the
// definitions of the fields it names.

#include "modules/view_arch.hpp"

#include "modules/access.hpp"
#include "modules/errors.hpp"
#include "modules/model.hpp"
#include "modules/registry.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <pugixml.hpp>

#include <algorithm>
#include <set>
#include <sstream>

namespace atrium::modules {

using nlohmann::json;

namespace {

struct view_row {
    json id = nullptr;  // null: generated
    std::string type, arch, field_childs;
};

bool is_x2many(const field& f) { return f.type == field_type::one2many || f.type == field_type::many2many; }

std::string default_arch(const model& m, const std::string& type) {
    static const std::set<std::string> standard = {"id", "create_uid", "create_date", "write_uid", "write_date"};
    if (type == "tree") {
        std::string name = "id";
        if (m.find_field("name")) name = "name";
        else
            for (const auto& f : m.definition().fields)
                if (f.type == field_type::char_ && !f.secret) {
                    name = f.name;
                    break;
                }
        return "<tree><field name=\"" + name + "\"/></tree>";
    }
    std::string arch = "<form>";
    for (const auto& f : m.definition().fields) {
        if (standard.contains(f.name) || f.secret) continue;
        if (is_x2many(f)) arch += "<field name=\"" + f.name + "\" colspan=\"4\"/>";
        else arch += "<label name=\"" + f.name + "\"/><field name=\"" + f.name + "\"/>";
    }
    if (!m.definition().buttons.empty()) {
        arch += "<group id=\"buttons\" colspan=\"4\">";
        for (const auto& b : m.definition().buttons) arch += "<button name=\"" + b.name + "\"/>";
        arch += "</group>";
    }
    return arch + "</form>";
}

view_row find_view(const model& m, const json& view_id, const std::string& type) {
    view_row row;
    const model* views = m.owner().find("ir.ui.view");
    if (views) {
        auto guard = without_check_access();
        const std::vector<std::string> names = {"model", "type", "arch", "field_childs"};
        json found;
        if (view_id.is_number_integer()) {
            found = views->search_read(json::array({json::array({"id", "=", view_id})}), {}, names);
            if (found.empty() || found[0]["model"] != m.name())
                throw user_error("There is no view " + view_id.dump() + " of \"" + m.name() + "\".");
        } else {
            search_options o;
            o.limit = 1;
            o.order = json::array({json::array({"priority", "ASC"}), json::array({"id", "ASC"})});
            found = views->search_read(
                json::array({json::array({"model", "=", m.name()}), json::array({"type", "=", type})}), o, names);
        }
        if (!found.empty()) {
            const auto& v = found[0];
            row.id = v["id"];
            row.type = v["type"].get<std::string>();
            row.arch = v["arch"].get<std::string>();
            if (v["field_childs"].is_string()) row.field_childs = v["field_childs"].get<std::string>();
            return row;
        }
    }
    if (type != "tree" && type != "form")
        throw user_error("The view type \"" + type + "\" is not supported (only \"tree\" and \"form\").");
    row.type = type;
    row.arch = default_arch(m, type);
    return row;
}

bool may(const model& m, const std::string& model_name, std::string_view mode) {
    auto& txn = current();
    if (!txn.access_checked()) return true;
    return access_allowed(m.owner(), txn.user(), model_name, mode);
}

// A field the user may not see: secret, or a relation to a model they cannot read.
bool hidden(const model& m, const field& f) {
    if (f.secret) return current().access_checked();
    return !f.relation.empty() && !may(m, f.relation, "read");
}

json view_of(const model& m, const json& view_id, const std::string& type, int depth) {
    const view_row v = find_view(m, view_id, type);
    pugi::xml_document doc;
    if (!doc.load_string(v.arch.c_str()))
        throw user_error("The view " + view_id.dump() + " of \"" + m.name() + "\" is not well-formed XML.");
    auto root = doc.document_element();
    std::set<std::string> names;
    json subviews = json::object();
    if (m.has_active()) names.insert("active");
    if (!v.field_childs.empty()) {
        names.insert(v.field_childs);
        if (const field* f = m.find_field(v.field_childs); f && !f->reverse_field.empty())
            names.insert(f->reverse_field);
    }
    if (const auto seq = root.attribute("sequence")) names.insert(seq.value());
    std::vector<pugi::xml_node> nodes;
    // Only these: a removed <field> takes its children (<prefix>, …) with it.
    for (const auto& x : root.select_nodes(".//field | .//label | .//button")) nodes.push_back(x.node());
    int hidden_count = 0;
    const bool can_write = may(m, m.name(), "write");
    for (auto el : nodes) {
        const std::string tag = el.name();
        const std::string name = el.attribute("name").value();
        if (tag == "field" || (tag == "label" && !name.empty())) {
            const field* f = m.find_field(name);
            if (!f) throw user_error("The view of \"" + m.name() + "\" names the unknown field \"" + name + "\".");
            if (hidden(m, *f)) {
                if (v.type == "tree" || tag == "label") {
                    el.parent().remove_child(el);
                } else {
                    const std::string colspan = el.attribute("colspan").value();
                    auto label = el.parent().insert_child_before("label", el);
                    label.append_attribute("id") = ("hidden " + name + "-" + std::to_string(hidden_count++)).c_str();
                    if (!colspan.empty()) label.append_attribute("colspan") = colspan.c_str();
                    el.parent().remove_child(el);
                }
                continue;
            }
            if (tag == "label") continue;
            names.insert(name);
            names.insert(f->depends.begin(), f->depends.end());  // the client evaluates states with them
            for (const char* a : {"icon", "symbol"})
                if (const auto attr = el.attribute(a)) names.insert(attr.value());
            if (v.type != "form" || !is_x2many(*f)) continue;
            if (!el.attribute("mode")) el.append_attribute("mode") = "tree,form";
            json first_id = nullptr;
            if (auto ids_attr = el.attribute("view_ids")) {
                std::string numeric;
                std::stringstream in(ids_attr.value());
                for (std::string ref; std::getline(in, ref, ',');) {
                    if (ref.empty()) continue;
                    const auto id = ref.find('.') == std::string::npos ? std::stoll(ref) : view_db_id(m.owner(), ref);
                    if (first_id.is_null()) first_id = id;
                    numeric += (numeric.empty() ? "" : ",") + std::to_string(id);
                }
                ids_attr.set_value(numeric.c_str());
            }
            if (depth > 0) continue;  // only the first level is preloaded, as Tryton does
            std::string mode = el.attribute("mode").value();
            mode = mode.substr(0, mode.find(','));
            const model& target = m.owner().get(f->relation);
            subviews[name] = {{first_id.is_null() ? mode : first_id.dump(),
                               view_of(target, first_id, first_id.is_null() ? mode : "tree", depth + 1)}};
        } else if (tag == "button") {
            const auto& buttons = m.definition().buttons;
            const auto b = std::find_if(buttons.begin(), buttons.end(), [&](const auto& x) { return x.name == name; });
            if (b == buttons.end())
                throw user_error("The view of \"" + m.name() + "\" has the unknown button \"" + name + "\".");
            auto states = nlohmann::ordered_json::parse(b->states.empty() ? "{}" : b->states);
            if (!can_write) states["readonly"] = true;
            if (states.contains("depends"))
                for (const auto& d : states["depends"]) names.insert(d.get<std::string>());
            if (!el.attribute("string")) el.append_attribute("string") = b->string.empty() ? name.c_str() : b->string.c_str();
            for (const char* a : {"help", "confirm"})
                if (!el.attribute(a)) el.append_attribute(a) = "";
            if (auto s = el.attribute("states")) s.set_value(pyson_text(states).c_str());
            else el.append_attribute("states") = pyson_text(states).c_str();
            if (!el.attribute("type")) el.append_attribute("type") = "class";
        }
    }
    std::ostringstream arch;
    doc.save(arch, "", pugi::format_raw | pugi::format_no_declaration);
    json fields = m.fields_get(std::vector<std::string>(names.begin(), names.end()));
    for (const auto& [name, views] : subviews.items())
        if (fields.contains(name)) fields[name]["views"] = views;
    return {{"model", m.name()},
            {"type", v.type},
            {"view_id", view_id},
            {"field_childs", v.field_childs.empty() ? json(nullptr) : json(v.field_childs)},
            {"arch", arch.str()},
            {"fields", fields}};
}

const json& argument(const rpc_call& c, std::size_t at, const char* name) {
    static const json null;
    if (at < c.args.size()) return c.args[at];
    if (c.kwargs.contains(name)) return c.kwargs[name];
    return null;
}

}  // namespace

json fields_view_get(const model& m, const json& view_id, const std::string& type) {
    m.require_access("read");
    return view_of(m, view_id, type, 0);
}

std::vector<exposed_method> view_methods(const model& m) {
    const model* self = &m;
    const std::string prefix = "model." + m.name() + ".";
    std::vector<exposed_method> out;
    out.push_back({prefix + "fields_view_get", {},
                   [self](const rpc_call& c) {
                       const json& type = argument(c, 1, "view_type");
                       if (!type.is_null() && !type.is_string()) throw user_error("The view type must be a string.");
                       return fields_view_get(*self, argument(c, 0, "view_id"),
                                              type.is_string() ? type.get<std::string>() : "form");
                   },
                   "fields_view_get(view_id, view_type) -> the view: arch, fields, view_id, model, type."});
    out.push_back({prefix + "view_toolbar_get", {},
                   [](const rpc_call&) {
                       return json{{"print", json::array()}, {"action", json::array()}, {"relate", json::array()},
                                   {"exports", json::array()}, {"emails", json::array()}};
                   },
                   "view_toolbar_get() -> the print, action and relate entries of the toolbar."});
    return out;
}

}  // namespace atrium::modules
