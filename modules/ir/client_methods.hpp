#pragma once
// What the Tryton 6.0 client asks ir for around its main window (issue 18):
// ir.model.list_models / get_names / list_history / global_search,
// ir.model.access.get_access, the per-user tree state
// (ir.ui.view_tree_state, a real table), and the calls the client makes
// but can do without (ir.ui.view_search.get_search, ir.ui.view_tree_width).

namespace atrium::modules {
struct module_def;
}

namespace atrium::modules::ir {

/// Adds the methods to ir.model and ir.model.access (already in `ir`) and the
/// models they need.
void add_client_methods(module_def& ir);

}  // namespace atrium::modules::ir
