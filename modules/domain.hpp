#pragma once
// Tryton domains to parameterised SQL: nested ["AND"|"OR", …] lists of
// [field, operator, value] leaves; dotted paths go through many2one (and
// x2many) fields as sub-selects. Field names are checked against the model;
// an unknown field or operator is a user error naming it.

#include "database/value.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace atrium::modules {

class model;

struct sql_condition {
    std::string sql = "1=1";
    std::vector<db::value> params;
};

sql_condition compile_domain(const model& m, const nlohmann::json& domain);

/// True when some leaf of `domain` names `field` (first path segment).
bool domain_mentions(const nlohmann::json& domain, const std::string& field);

}  // namespace atrium::modules
