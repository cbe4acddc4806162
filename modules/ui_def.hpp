#pragma once
// What a module declares of its user interface, beside its models: views
// (arch as Tryton writes it), window actions and menus. Each carries a
// stable id local to the module ("sale_order_form"; another module's as
// "sale.sale_order_form"), so that --update replaces what --init loaded.
// Loaded into ir.ui.view / ir.action.act_window / ir.ui.menu by ir at
// activation, after checking every arch against the models (ir/ui_load.cpp).

#include <optional>
#include <string>
#include <vector>

namespace atrium::modules {

struct view_def {
    std::string id;
    std::string model;
    std::string type;  ///< "tree" or "form"
    std::string arch;
    int priority = 16;
    std::string field_childs;  ///< tree views shown as a tree (menus: "childs")
};

struct act_window_def {
    std::string id;
    std::string name;
    std::string res_model;
    std::vector<std::string> views;  ///< view ids, in order (first: what opens)
    std::string domain = "[]";       ///< PYSON text
    std::string context = "{}";
    std::optional<int> limit;
};

struct menu_def {
    std::string id;
    std::string name;
    std::string parent;  ///< menu id; empty: a root menu
    int sequence = 10;
    std::string icon = "tryton-list";
    std::string action;               ///< act_window id; empty: a folder
    std::vector<std::string> groups;  ///< res.group names; empty: everybody
};

struct ui_def {
    std::vector<view_def> views;
    std::vector<act_window_def> actions;
    std::vector<menu_def> menus;
    bool empty() const { return views.empty() && actions.empty() && menus.empty(); }

    // Declaring, in order (a record refers only to those declared before it);
    // each returns the record for the optional members.
    view_def& view(std::string id, std::string model, std::string type, std::string arch) {
        view_def v;
        v.id = std::move(id), v.model = std::move(model), v.type = std::move(type), v.arch = std::move(arch);
        return views.emplace_back(std::move(v));
    }
    act_window_def& action(std::string id, std::string name, std::string res_model, std::vector<std::string> views_) {
        act_window_def a;
        a.id = std::move(id), a.name = std::move(name), a.res_model = std::move(res_model), a.views = std::move(views_);
        return actions.emplace_back(std::move(a));
    }
    menu_def& menu(std::string id, std::string name, std::string parent = {}, std::string action_ = {}) {
        menu_def m;
        m.id = std::move(id), m.name = std::move(name), m.parent = std::move(parent), m.action = std::move(action_);
        return menus.emplace_back(std::move(m));
    }
};

/// A button of a model (Tryton's _buttons): the method it calls has the
/// same name; `states` is the PYSON-encoded text of its states, as Tryton
/// encodes it (e.g. {"invisible": …, "depends": ["state"]}), served as written.
struct button_def {
    std::string name;
    std::string string;
    std::string states = "{}";
};

}  // namespace atrium::modules
