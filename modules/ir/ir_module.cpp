#include "modules/ir/ir.hpp"
#include "modules/ir/client_methods.hpp"
#include "modules/ir/bus.hpp"
#include "modules/ir/queue.hpp"
#include "modules/ir/ui.hpp"

#include "modules/dialect.hpp"
#include "modules/errors.hpp"
#include "modules/registry.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <cstdio>

namespace atrium::modules::ir {

namespace {

// Numbers become file names (sale.orders_dir/<number>.txt) and mail subjects:
// a prefix or suffix keeps to ASCII letters, digits, space and - _ . without
// "..", so that no number can name another directory.
void check_affix(const std::string& sequence, const char* field, const std::string& value) {
    const bool safe = std::all_of(value.begin(), value.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.' || c == ' ';
    });
    if (!safe || value.find("..") != std::string::npos)
        throw user_error("The " + std::string(field) + " \"" + value + "\" of the sequence \"" + sequence +
                             "\" is not allowed.",
                         "Use only letters, digits, spaces, \"-\", \"_\" and \".\" (not \"..\").");
}

model_def sequence_model(std::string name, std::string description) {
    model_def m(std::move(name), std::move(description));
    m.add(fields::char_field("name", "Name").set_required())
        .add(fields::char_field("code", "Code").set_required().set_unique())
        .add(fields::char_field("prefix", "Prefix"))
        .add(fields::char_field("suffix", "Suffix"))
        .add(fields::integer("padding", "Number padding").set_default(0))
        .add(fields::integer("number_next", "Next number").set_default(1))
        .add(fields::integer("number_increment", "Increment").set_default(1))
        .add(fields::boolean("active", "Active").set_default(true));
    m.validate = [](const model& self, const ids& records) {
        for (const auto& r : self.browse(records, {"name", "prefix", "suffix"}))
            for (const char* f : {"prefix", "suffix"})
                if (!r.is_null(f)) check_affix(r.get<std::string>("name"), f, r.get<std::string>(f));
    };
    return m;
}

std::string take_number(const std::string& model_name, const std::string& code) {
    const auto p = current_pool();
    const model& seq = p->get(model_name);
    auto guard = without_check_access();
    const auto found = seq.search(nlohmann::json::array({nlohmann::json::array({"code", "=", code})}));
    if (found.empty()) throw user_error("There is no sequence with the code \"" + code + "\".");
    const record r = seq.browse(found[0], {"prefix", "suffix", "padding", "number_next", "number_increment"});
    const auto number = r.get<std::int64_t>("number_next");
    seq.write({r.id()}, {{"number_next", number + r.get<std::int64_t>("number_increment")}});
    std::string digits = std::to_string(number);
    const auto padding = r.is_null("padding") ? 0 : r.get<std::int64_t>("padding");
    while (static_cast<std::int64_t>(digits.size()) < padding) digits.insert(digits.begin(), '0');
    const auto text = [&](const char* f) { return r.is_null(f) ? std::string() : r.get<std::string>(f); };
    return text("prefix") + digits + text("suffix");
}

// ir.model / ir.model.field rows for every model of the pool.
void sync_model_rows(const pool& p) {
    const model& ir_model = p.get("ir.model");
    const model& ir_field = p.get("ir.model.field");
    for (const auto& name : p.model_names()) {
        const model& m = p.get(name);
        const auto found = ir_model.search(nlohmann::json::array({nlohmann::json::array({"model", "=", name})}));
        const nlohmann::json values = {{"model", name}, {"name", m.definition().description}};
        if (found.empty()) ir_model.create(nlohmann::json::array({values}));
        else ir_model.write(found, values);
        for (const auto& f : m.definition().fields) {
            const auto ff = ir_field.search(nlohmann::json::array(
                {nlohmann::json::array({"model", "=", name}), nlohmann::json::array({"name", "=", f.name})}));
            const nlohmann::json fv = {{"model", name},
                                       {"name", f.name},
                                       {"field_description", f.string},
                                       {"ttype", std::string(to_string(f.type))},
                                       {"relation", f.relation.empty() ? nlohmann::json(nullptr)
                                                                        : nlohmann::json(f.relation)}};
            if (ff.empty()) ir_field.create(nlohmann::json::array({fv}));
            else ir_field.write(ff, fv);
        }
    }
}

}  // namespace

std::string next_number(const std::string& code) { return take_number("ir.sequence", code); }

std::string next_strict_number(const std::string& code) {
    current().lock_table("ir_sequence_strict");
    return take_number("ir.sequence.strict", code);
}

std::string default_language() {
    const auto p = current_pool();
    const model& conf = p->get("ir.configuration");
    auto guard = without_check_access();
    const auto found = conf.search(nlohmann::json::array(), {.limit = 1});
    if (found.empty()) return "en";
    const record r = conf.browse(found[0], {"language"});
    return r.is_null("language") ? "en" : r.get<std::string>("language");
}

void register_module(module_registry& registry) {
    module_def ir;
    ir.name = "ir";
    ir.description = "Models, access rights, modules, sequences, sessions";

    model_def model_m("ir.model", "Model");
    model_m.add(fields::char_field("model", "Model").set_required().set_unique())
        .add(fields::char_field("name", "Name"));
    model_m.order = {{"model", "ASC"}};
    ir.models.push_back(std::move(model_m));

    model_def field_m("ir.model.field", "Model Field");
    field_m.add(fields::char_field("model", "Model").set_required())
        .add(fields::char_field("name", "Name").set_required())
        .add(fields::char_field("field_description", "Field Description"))
        .add(fields::char_field("ttype", "Field Type"))
        .add(fields::char_field("relation", "Model Relation"));
    ir.models.push_back(std::move(field_m));

    model_def access("ir.model.access", "Model Access");
    access.add(fields::char_field("model", "Model").set_required().set_help("The model name, e.g. \"sale.order\""))
        .add(fields::many2one("group", "res.group", "Group").set_help("Empty: every user").set_cascade())
        .add(fields::boolean("perm_read", "Read Access").set_default(false))
        .add(fields::boolean("perm_write", "Write Access").set_default(false))
        .add(fields::boolean("perm_create", "Create Access").set_default(false))
        .add(fields::boolean("perm_delete", "Delete Access").set_default(false))
        .add(fields::boolean("active", "Active").set_default(true))
        .add(fields::char_field("description", "Description"));
    access.invalidates_access = true;
    ir.models.push_back(std::move(access));

    model_def module_m("ir.module", "Module");
    module_m.add(fields::char_field("name", "Name").set_required().set_unique())
        .add(fields::selection("state", {{"not activated", "Not Activated"}, {"activated", "Activated"}}, "State")
                 .set_default("not activated"));
    ir.models.push_back(std::move(module_m));

    ir.models.push_back(sequence_model("ir.sequence", "Sequence"));
    ir.models.push_back(sequence_model("ir.sequence.strict", "Sequence Strict"));

    model_def session("ir.session", "Session");
    session.add(fields::many2one("user", "res.user", "User").set_required().set_cascade())
        .add(fields::char_field("key", "Key").set_required().set_unique());
    ir.models.push_back(std::move(session));

    model_def conf("ir.configuration", "Configuration");
    conf.add(fields::char_field("language", "Default Language").set_default("en"))
        .add(fields::char_field("hostname", "Hostname"));
    ir.models.push_back(std::move(conf));

    add_queue_model(ir);
    bus::add_bus_model(ir);
    add_ui_models(ir);

    ir.on_activate = [](const pool& p) {
        sync_model_rows(p);
        activate_ui(p);
        const model& conf = p.get("ir.configuration");
        if (conf.search(nlohmann::json::array()).empty()) conf.create(nlohmann::json::array({{{"language", "en"}}}));
        // Sessions, access rows and the module table are for root only over RPC.
        const model& access = p.get("ir.model.access");
        for (const char* m : {"ir.session", "ir.model.access", "ir.module", "ir.sequence.strict", "ir.queue",
                              "ir.bus.message"}) {
            if (access.search(nlohmann::json::array({nlohmann::json::array({"model", "=", m})})).empty())
                access.create(nlohmann::json::array(
                    {{{"model", m}, {"description", std::string("only root may use ") + m}}}));
        }
        // On every activation and update: databases made before the index get it.
        ensure_queue_index(current().connection());
    };
    add_client_methods(ir);
    registry.add(std::move(ir));
}

}  // namespace atrium::modules::ir
