#pragma once
// Views of a model as the Tryton client reads them: checking an arch
// against the models (at activation), and fields_view_get /
// view_toolbar_get, exposed on every model (view_methods).

#include "modules/rpc.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace atrium::modules {

class model;
class pool;

/// JSON as Tryton's PYSONEncoder writes it (", " and ": " separators).
std::string pyson_text(const nlohmann::ordered_json& value);
inline std::string pyson_text(const nlohmann::json& value) {
    return pyson_text(nlohmann::ordered_json::parse(value.dump()));
}

/// Throws user_error naming the view when the arch is not well-formed XML, its
/// root is not <type>, or it names a field, button or sub-view that does not
/// exist. `view_exists` answers for "module.id" references in view_ids.
void check_arch(const pool& p, const std::string& view_name, const std::string& model_name, const std::string& type,
                const std::string& arch, const std::function<bool(const std::string&)>& view_exists);

/// The numeric ir.ui.view id of "module.id" (0 if unknown).
std::int64_t view_db_id(const pool& p, const std::string& xml_id);

/// fields_view_get(view_id, view_type) of `m` for the current user.
nlohmann::json fields_view_get(const model& m, const nlohmann::json& view_id, const std::string& type);

/// fields_view_get and view_toolbar_get of `m`, exposed on every model.
std::vector<exposed_method> view_methods(const model& m);

}  // namespace atrium::modules
