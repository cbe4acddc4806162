#include "modules/model.hpp"
#include "modules/model_parts.hpp"

#include "modules/access.hpp"
#include "modules/errors.hpp"
#include "modules/field_access.hpp"
#include "modules/registry.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <iterator>
#include <map>

namespace atrium::modules::model_detail {

namespace {

bool contains(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

// A field the answer needs but the caller did not ask for.
void fetch(client_read_plan& plan, const std::string& name) {
    if (contains(plan.names, name)) return;
    plan.names.push_back(name);
    plan.added.push_back(name);
}

const field* rec_name_field(const model& m) {
    const field* f = m.find_field(m.definition().rec_name);
    return f && f->stored() && !f->secret ? f : nullptr;
}

nlohmann::json rec_name_of(const field* f, const nlohmann::json& row) {
    if (f && row.contains(f->name) && !row[f->name].is_null()) {
        const auto& v = row[f->name];
        return v.is_string() ? v : nlohmann::json(v.dump());
    }
    return std::to_string(row["id"].get<std::int64_t>());
}

}  // namespace

client_read_plan plan_client_read(const model& m, const std::vector<std::string>& names) {
    client_read_plan plan;
    for (const auto& n : names) {
        if (n == "rec_name") {
            plan.rec_name = true;
        } else if (n == "_write") {
            plan.write = true;
        } else if (n == "_delete") {
            plan.remove = true;
        } else if (const auto dot = n.find('.'); dot != std::string::npos) {
            const std::string head = n.substr(0, dot), rest = n.substr(dot + 1);
            check_path_readable(m, n);
            const field* f = m.find_field(head);
            if (!f) throw user_error("The field \"" + head + "\" does not exist on \"" + label(m) + "\".");
            if (f->relation.empty() || rest.empty())
                throw user_error("The field \"" + head + "\" of \"" + label(m) + "\" is not a relation: \"" + n +
                                 "\" cannot be read.");
            auto it = std::find_if(plan.dotted.begin(), plan.dotted.end(), [&](const auto& d) { return d.first == head; });
            if (it == plan.dotted.end()) {
                plan.dotted.emplace_back(head, std::vector<std::string>{});
                it = std::prev(plan.dotted.end());
            }
            if (!contains(it->second, rest)) it->second.push_back(rest);
        } else if (!contains(plan.names, n)) {
            plan.names.push_back(n);
        }
    }
    if (plan.rec_name)
        if (const field* f = rec_name_field(m)) fetch(plan, f->name);
    for (const auto& [head, _] : plan.dotted) fetch(plan, head);
    return plan;
}

void complete_client_read(const model& m, const client_read_plan& plan, nlohmann::json& rows) {
    if (rows.empty()) return;
    const field* rn = plan.rec_name ? rec_name_field(m) : nullptr;
    const auto user = current().user();
    const bool may_write = plan.write && access_allowed(m.owner(), user, m.name(), "write");
    const bool may_delete = plan.remove && access_allowed(m.owner(), user, m.name(), "delete");
    for (const auto& [head, paths] : plan.dotted) {
        const field& f = m.get_field(head);
        const model& target = m.owner().get(f.relation);
        ids wanted;
        for (const auto& row : rows) {
            const auto& v = row[head];
            if (v.is_number_integer()) wanted.push_back(v.get<std::int64_t>());
            else if (v.is_array())
                for (const auto& id : v) wanted.push_back(id.get<std::int64_t>());
        }
        std::map<std::int64_t, nlohmann::json> by_id;
        if (!wanted.empty())
            for (auto& r : target.read(unique_ids(wanted), paths)) by_id.emplace(r["id"].get<std::int64_t>(), std::move(r));
        for (auto& row : rows) {
            const auto& v = row[head];
            nlohmann::json nested;
            if (v.is_number_integer()) {
                nested = by_id.at(v.get<std::int64_t>());
            } else if (v.is_array()) {
                nested = nlohmann::json::array();
                for (const auto& id : v) nested.push_back(by_id.at(id.get<std::int64_t>()));
            }
            row[head + "."] = std::move(nested);
        }
    }
    for (auto& row : rows) {
        if (plan.rec_name) row["rec_name"] = rec_name_of(rn, row);
        if (plan.write) row["_write"] = may_write;
        if (plan.remove) row["_delete"] = may_delete;
        for (const auto& name : plan.added) row.erase(name);
    }
}

}  // namespace atrium::modules::model_detail
