#pragma once
// What the files implementing `model` share (not for other users). `model`
// is implemented across several files, one purpose each:
//   model.cpp         definition, fields, model access check, schema sync
//   model_values.cpp  field values between JSON and the database; record getters
//   model_checks.cpp  checks before writes: existence, timestamps, values, defaults
//   model_write.cpp   create, write (with x2many commands), delete, copy
//   model_read.cpp    read, search, ordering, fields_get, browse
//   model_read_client.cpp  what read adds for the Tryton client: rec_name,
//                     "<field>.<sub>" as a nested "<field>." value, _write, _delete

#include "modules/errors.hpp"
#include "modules/model.hpp"

#include <set>
#include <string>
#include <vector>

namespace atrium::modules::model_detail {

inline const std::set<std::string, std::less<>> k_standard = {"id", "create_uid", "create_date", "write_uid",
                                                        "write_date"};

inline std::string placeholders(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += i ? ", ?" : "?";
    return s;
}

inline std::vector<db::value> id_params(const ids& records) { return {records.begin(), records.end()}; }

inline ids unique_ids(const ids& records) {
    ids out;
    std::set<std::int64_t> seen;
    for (auto id : records)
        if (seen.insert(id).second) out.push_back(id);
    return out;
}

inline std::string label(const model& m) {
    return m.definition().description.empty() ? m.name() : m.definition().description;
}

inline bool is_x2many(const field& f) { return f.type == field_type::one2many || f.type == field_type::many2many; }

inline std::int64_t as_id(const nlohmann::json& j, const std::string& what) {
    if (!j.is_number_integer()) throw user_error("Invalid id for " + what + ": " + j.dump());
    return j.get<std::int64_t>();
}

inline ids as_ids(const nlohmann::json& j, const std::string& what) {
    ids out;
    if (j.is_number_integer()) return {j.get<std::int64_t>()};
    if (!j.is_array()) throw user_error("Invalid ids for " + what + ": " + j.dump());
    for (const auto& x : j) out.push_back(as_id(x, what));
    return out;
}

/// How read serves the names the Tryton client asks for besides fields:
/// "rec_name", "_write", "_delete" and "<relational field>.<path>".
struct client_read_plan {
    std::vector<std::string> names;  ///< what the plain read fetches (fields and "_timestamp")
    bool rec_name = false, write = false, remove = false;
    /// field → the paths below it ("parent.rec_name" → parent: [rec_name]), in request order
    std::vector<std::pair<std::string, std::vector<std::string>>> dotted;
    std::vector<std::string> added;  ///< fetched only to compute the above: left out of the answer
};
client_read_plan plan_client_read(const model& m, const std::vector<std::string>& names);
/// Adds the planned keys to each row of `rows` (read's answer).
void complete_client_read(const model& m, const client_read_plan& plan, nlohmann::json& rows);

}  // namespace atrium::modules::model_detail
