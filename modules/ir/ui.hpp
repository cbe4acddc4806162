#pragma once
// The user-interface layer of ir: icons, views, window actions, keywords,
// menus (ir.ui.icon, ir.ui.view, ir.action, ir.action.act_window,
// ir.action.act_window.view, ir.action.keyword, ir.ui.menu) and the stable
// ids of module data (ir.model.data); loading a module's ui_def into them.

#include "modules/ui_def.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace atrium::modules {
struct module_def;
struct model_def;
class pool;
class model;
}  // namespace atrium::modules

namespace atrium::modules::ir {

/// Adds the ui models to the ir module (with their RPC methods).
void add_ui_models(module_def& ir);
/// The icons ir ships (ui_icons.cpp) and the SVG text of one ("" if unknown).
std::vector<std::string> icon_names();
std::string icon_svg(const std::string& name);
/// At ir's activation: the icons, and read-only access for everybody.
void activate_ui(const pool& p);
/// Loads (or, on update, replaces) a module's views, actions and menus.
/// Throws user_error naming the module and the record on a bad declaration.
void load_ui(const pool& p, const std::string& module, const ui_def& ui);
/// The database id of a module's record ("sale", "act_sale_order", model); 0 if not loaded.
std::int64_t data_id(const pool& p, const std::string& module, const std::string& fs_id, const std::string& model);
/// The action dict of an ir.action.act_window as the client runs it (no "keyword").
nlohmann::json action_value(const pool& p, std::int64_t act_window_id);

// ir.ui.menu as a user sees it (ui_menu.cpp).
/// The ids among `menus` the current user may see (groups, the action's model readable, parents visible).
std::vector<std::int64_t> visible_menus(const pool& p, const std::vector<std::int64_t>& menus);
/// The search/read/search_read of ir.ui.menu that leave out hidden menus.
void add_menu_methods(model_def& menu);

}  // namespace atrium::modules::ir
