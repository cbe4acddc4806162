#include "modules/ir/client_methods.hpp"

#include "modules/access.hpp"
#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <string>

namespace atrium::modules::ir {

namespace {

using nlohmann::json;

json leaf(const char* f, const char* op, json v) { return json::array({f, op, std::move(v)}); }

model_def& find_model(module_def& ir, const std::string& name) {
    for (auto& m : ir.models)
        if (m.name == name) return m;
    throw std::logic_error("ir declares no model " + name);
}

const json& arg(const rpc_call& c, std::size_t i) {
    static const json null_value;
    return i < c.args.size() ? c.args[i] : null_value;
}

std::string text_arg(const rpc_call& c, std::size_t i, const char* what) {
    const json& v = arg(c, i);
    if (!v.is_string()) throw user_error(std::string("Expected a text for ") + what + ", got " + v.dump() + ".");
    return v.get<std::string>();
}

// {read, write, create, delete} for each requested model: the client indexes
// the answer by every name it asked for (a missing one crashes it), so an
// unknown model gets an entry too, with nothing allowed.
json get_access(const pool& p, const json& models) {
    if (!models.is_array()) throw user_error("get_access expects a list of model names, got " + models.dump() + ".");
    const auto user = current().user();
    json out = json::object();
    for (const auto& m : models) {
        if (!m.is_string()) throw user_error("get_access expects a list of model names, got " + models.dump() + ".");
        const auto name = m.get<std::string>();
        const bool known = p.find(name) != nullptr;
        json rights = json::object();
        for (const char* mode : {"read", "write", "create", "delete"})
            rights[mode] = known && access_allowed(p, user, name, mode);
        out[name] = std::move(rights);
    }
    return out;
}

// ir.ui.view_tree_state: the expanded nodes and selection of a tree, per
// user, model, domain and children field (JSON texts the client gives and
// takes back unread).
model_def tree_state_model() {
    model_def m("ir.ui.view_tree_state", "View Tree State");
    m.add(fields::many2one("user", "res.user", "User").set_required().set_cascade())
        .add(fields::char_field("model", "Model").set_required())
        .add(fields::text("domain", "Domain").set_required())
        .add(fields::char_field("child_name", "Child Name"))
        .add(fields::text("nodes", "Expanded Nodes"))
        .add(fields::text("selected_nodes", "Selected Nodes"));
    const auto key = [](const rpc_call& c) {
        const json& child = arg(c, 2);
        return json::array({leaf("user", "=", current().user()), leaf("model", "=", text_arg(c, 0, "the model")),
                            leaf("domain", "=", text_arg(c, 1, "the domain")),
                            leaf("child_name", "=", child.is_string() ? child : json(nullptr))});
    };
    custom_method get{"get", {}, [key](const model& self, const rpc_call& c) {
                          auto guard = without_check_access();  // one's own state, whatever the rights
                          const auto found = self.search(key(c), {.limit = 1});
                          if (found.empty()) return json::array({"[]", "[]"});
                          const record r = self.browse(found[0], {"nodes", "selected_nodes"});
                          const auto text = [&](const char* f) { return r.is_null(f) ? json("[]") : r.values()[f]; };
                          return json::array({text("nodes"), text("selected_nodes")});
                      },
                      "get(model, domain, child_name) -> [nodes, selected_nodes] (JSON texts)."};
    get.rpc.cache = 86400;  // X-Tryton-Cache, as trytond
    m.add(std::move(get));
    rpc_definition rw;
    rw.readonly = false;
    custom_method set{"set", rw, [key](const model& self, const rpc_call& c) {
                          auto guard = without_check_access();
                          const json where = key(c);
                          const auto found = self.search(where);
                          if (!found.empty()) self.remove(found);
                          self.create(json::array({{{"user", current().user()},
                                                    {"model", text_arg(c, 0, "the model")},
                                                    {"domain", text_arg(c, 1, "the domain")},
                                                    {"child_name", where[3][2]},
                                                    {"nodes", text_arg(c, 3, "the nodes")},
                                                    {"selected_nodes", text_arg(c, 4, "the selected nodes")}}}));
                          return json(nullptr);
                      },
                      "set(model, domain, child_name, nodes, selected_nodes): stores the tree state."};
    m.add(std::move(set));
    return m;
}

custom_method constant(std::string name, json value, std::string doc, bool readonly = true) {
    rpc_definition rpc;
    rpc.readonly = readonly;
    return {std::move(name), rpc, [value](const model&, const rpc_call&) { return value; }, std::move(doc)};
}

}  // namespace

void add_client_methods(module_def& ir) {
    model_def& ir_model = find_model(ir, "ir.model");
    ir_model.add(custom_method{"list_models", {}, [](const model& self, const rpc_call&) {
                                   return json(self.owner().model_names());
                               },
                               "list_models() -> every model name."});
    ir_model.add(custom_method{"get_names", {}, [](const model& self, const rpc_call&) {
                                   json out = json::object();
                                   for (const auto& name : self.owner().model_names()) {
                                       const auto& d = self.owner().get(name).definition().description;
                                       out[name] = d.empty() ? name : d;
                                   }
                                   return out;
                               },
                               "get_names() -> {model: description}."});
    // No history tables, no global search: the client shows nothing.
    ir_model.add(constant("list_history", json::array(), "list_history() -> [] (no model keeps history)."));
    ir_model.add(constant("global_search", json::array(), "global_search(text, limit, model) -> [] (not served)."));

    model_def& access = find_model(ir, "ir.model.access");
    access.add(custom_method{"get_access", {}, [](const model& self, const rpc_call& c) {
                                 return get_access(self.owner(), arg(c, 0));
                             },
                             "get_access(models) -> {model: {read, write, create, delete}} for the current user."});

    ir.models.push_back(tree_state_model());

    model_def search("ir.ui.view_search", "View Search");
    search.add(fields::char_field("name", "Name")).add(fields::char_field("model", "Model"));
    search.add(constant("get_search", json::object(), "get_search() -> {} (no saved searches)."));
    ir.models.push_back(std::move(search));

    model_def width("ir.ui.view_tree_width", "View Tree Width");
    width.add(fields::char_field("model", "Model")).add(fields::char_field("field", "Field"));
    width.add(constant("set_width", nullptr, "set_width(model, widths): accepted, not kept.", false));
    ir.models.push_back(std::move(width));
}

}  // namespace atrium::modules::ir
