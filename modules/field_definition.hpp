#pragma once
// A field's definition as fields_get answers it, in the shape trytond 6.0
// gives the Tryton client: the common keys (states/domain/context as PYSON
// texts, loading, searchable, sortable, create, delete …) plus each type's
// own (char autocomplete, datetime format, one2many relation_field and order,
// selection options, numeric digits …). The client fails on a missing
// `loading`, datetime `format` or char `autocomplete`.

#include <nlohmann/json.hpp>

namespace atrium::modules {

class model;
struct field;

nlohmann::json field_definition(const model& m, const field& f);

/// The `rec_name` every model has: a read-only char, not stored.
nlohmann::json rec_name_definition();

}  // namespace atrium::modules
