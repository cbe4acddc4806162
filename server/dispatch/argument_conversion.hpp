#pragma once
// SPEC §6.3: turns the positional and keyword arguments of an RPC call into
// the call the module sees, the context the transaction runs with and the
// optimistic-lock timestamps.

#include "modules/rpc.hpp"

#include <nlohmann/json.hpp>

namespace atrium::server {

struct converted_call {
    modules::rpc_call call;  ///< positional args without the context, keyword args without `context`
    nlohmann::json context = nlohmann::json::object();    ///< cleaned (`_` keys removed but `_datetime`)
    nlohmann::json timestamp = nlohmann::json::object();  ///< `_timestamp` as given: "model,id" → time text
};

/// Throws atrium::type_error ("context must be a dictionary", bad id types) and
/// atrium::value_error ("Missing context argument", "Duplicate ids"): the
/// dispatcher answers those as invalid params.
converted_call convert_arguments(const modules::rpc_definition& rpc, nlohmann::json args,
                                 nlohmann::json kwargs);

}  // namespace atrium::server
