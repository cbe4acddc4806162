#include "transaction/errors.hpp"

#include <algorithm>

namespace atrium {

namespace {

std::string join_ids(const std::vector<std::int64_t>& ids) {
    std::string text;
    for (auto id : ids) {
        if (!text.empty()) text += ", ";
        text += std::to_string(id);
    }
    return text;
}

nlohmann::json& member(nlohmann::json& extras, const char* key, nlohmann::json empty) {
    if (!extras.is_object()) extras = nlohmann::json::object();
    auto& slot = extras[key];
    if (slot.is_null()) slot = std::move(empty);
    return slot;
}

}  // namespace

void transaction_error::fix(nlohmann::json&) const {}

table_lock_required::table_lock_required(std::string table)
    : transaction_error("table \"" + table + "\" must be locked at the start of the transaction"),
      table_(std::move(table)) {}

void table_lock_required::fix(nlohmann::json& extras) const {
    auto& tables = member(extras, "_lock_tables", nlohmann::json::array());
    if (std::find(tables.begin(), tables.end(), table_) == tables.end()) tables.push_back(table_);
}

record_lock_required::record_lock_required(std::string table, std::vector<std::int64_t> missing_ids)
    : transaction_error("records [" + join_ids(missing_ids) + "] of table \"" + table +
                        "\" must be locked at the start of the transaction"),
      table_(std::move(table)),
      ids_(std::move(missing_ids)) {}

void record_lock_required::fix(nlohmann::json& extras) const {
    auto& by_table = member(extras, "_lock_records", nlohmann::json::object());
    auto& ids = by_table[table_];
    if (ids.is_null()) ids = nlohmann::json::array();
    for (auto id : ids_) {
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
}

}  // namespace atrium
