#include "modules/ir/ir.hpp"
#include "modules/registry.hpp"
#include "modules/res/users.hpp"
#include "modules/sale/sale.hpp"

#include <mutex>

namespace atrium::modules {

module_registry& builtin_modules() {
    static module_registry registry;
    static std::once_flag once;
    std::call_once(once, [] {
        // One line per module (README "Writing a module").
        ir::register_module(registry);
        res::register_module(registry);
        sale::register_module(registry);
    });
    return registry;
}

}  // namespace atrium::modules
