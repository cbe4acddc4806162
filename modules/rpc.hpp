#pragma once
// What the server needs from modules to expose a method over RPC (SPEC §6.3).
// The server's dispatcher looks a method up by its full name
// ("model.res.user.read"), converts the arguments (context, _timestamp,
// instantiate, check_access), starts the transaction with `readonly` and
// the deadline `timeout` sets, and calls `call` inside it (current() is that transaction).

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace atrium::modules {

/// Which positional arguments are record ids to instantiate.
struct rpc_instantiate {
    enum class kind { none, index, slice } how = kind::none;
    int index = 0;  ///< kind::index: that argument
    /// kind::slice: arguments start, start+step, … (write: 0, 2, 4 …)
    int start = 0;
    int step = 1;
};

struct rpc_definition {
    bool readonly = true;
    rpc_instantiate instantiate{};
    /// Applied to the method's result before it goes on the wire (records → ids).
    std::function<nlohmann::json(nlohmann::json)> result{};
    bool check_access = true;
    bool fresh_session = false;
    bool unique = true;                    ///< duplicate instantiated ids ⇒ value_error("Duplicate ids")
    std::optional<int> cache{};            ///< seconds: X-Tryton-Cache header on readonly calls
    /// The call's timeout for this method: replaces `web.call_timeout` (it may
    /// be longer); a client's X-Atrium-Timeout may only lower it. The deadline
    /// it sets also becomes each statement's timeout (the time left).
    std::optional<std::chrono::milliseconds> timeout{};
};

/// The converted arguments of one call: positional (context removed) and keyword.
struct rpc_call {
    nlohmann::json args = nlohmann::json::array();
    nlohmann::json kwargs = nlohmann::json::object();
};

/// An exposed method. `call` runs inside the started transaction.
struct exposed_method {
    std::string name;  ///< "model.<model>.<method>"
    rpc_definition rpc;
    std::function<nlohmann::json(const rpc_call&)> call;
    std::string doc;   ///< system.methodHelp
};

}  // namespace atrium::modules
