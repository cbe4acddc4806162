#include "server/dispatch/argument_conversion.hpp"

#include "transaction/errors.hpp"

#include <set>
#include <string>

namespace atrium::server {
namespace {

nlohmann::json take_context(nlohmann::json& args, nlohmann::json& kwargs) {
    if (kwargs.is_object()) {
        auto found = kwargs.find("context");
        if (found != kwargs.end()) {
            if (!found->is_object()) throw type_error("context must be a dictionary");
            nlohmann::json context = std::move(*found);
            kwargs.erase(found);
            return context;
        }
    }
    if (!args.is_array() || args.empty() || !args.back().is_object())
        throw value_error("Missing context argument");
    nlohmann::json context = std::move(args.back());
    args.erase(args.end() - 1);
    return context;
}

bool is_id(const nlohmann::json& v) { return v.is_number_integer(); }

// Checks one instantiated argument: an id, a list of ids, or a map of values.
void check_instance(const nlohmann::json& arg, bool unique) {
    if (is_id(arg) || arg.is_object()) return;
    if (!arg.is_array()) throw type_error("expected a record id or a list of record ids");
    std::set<std::int64_t> seen;
    for (const auto& item : arg) {
        if (!is_id(item)) throw type_error("expected a list of record ids");
        if (!seen.insert(item.get<std::int64_t>()).second && unique) throw value_error("Duplicate ids");
    }
}

}  // namespace

converted_call convert_arguments(const modules::rpc_definition& rpc, nlohmann::json args, nlohmann::json kwargs) {
    if (!args.is_array()) throw type_error("positional arguments must be a list");
    if (kwargs.is_null()) kwargs = nlohmann::json::object();
    if (!kwargs.is_object()) throw type_error("keyword arguments must be a dictionary");

    converted_call out;
    nlohmann::json context = take_context(args, kwargs);
    // Kept as given, whatever its type (as Tryton does); the ORM's check decides.
    if (auto ts = context.find("_timestamp"); ts != context.end()) out.timestamp = *ts;
    for (auto it = context.begin(); it != context.end();) {
        const std::string& key = it.key();
        if (!key.empty() && key[0] == '_' && key != "_datetime")
            it = context.erase(it);
        else
            ++it;
    }

    using kind = modules::rpc_instantiate::kind;
    const auto& inst = rpc.instantiate;
    if (inst.how == kind::index) {
        if (inst.index >= static_cast<int>(args.size())) throw value_error("Missing record argument");
        check_instance(args[inst.index], rpc.unique);
    } else if (inst.how == kind::slice) {
        for (int i = inst.start; i < static_cast<int>(args.size()); i += std::max(inst.step, 1))
            check_instance(args[i], rpc.unique);
    }

    if (rpc.check_access) context["_check_access"] = true;
    out.call.args = std::move(args);
    out.call.kwargs = std::move(kwargs);
    out.context = std::move(context);
    return out;
}

}  // namespace atrium::server
