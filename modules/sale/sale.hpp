#pragma once
// The example module (README "Writing a module"): sale orders with lines.
// Quantities and unit prices are exact decimals; line amounts and the order
// total are computed. confirm() shows the transaction API at work: a strict
// sequence (lock_table → retry), an audit record that survives a rollback
// (run_independently: new_transaction), an atexit callback, a UserError that
// changes nothing, a UserWarning the user may confirm, and a task queued in
// the transaction (ir.queue) that sends the confirmation mail and order file.

#include "modules/model.hpp"

#include <functional>
#include <string>

namespace atrium::modules {
class module_registry;
}

namespace atrium::modules::sale {

void register_module(module_registry& registry);

/// Confirms draft orders (what model.sale.order.confirm runs).
void confirm(const model& orders, const ids& records);

/// Called (from an atexit callback) with the orders a transaction confirmed,
/// once that transaction has ended. Returns nothing; for notifications.
void add_confirm_listener(std::function<void(const ids& orders)> listener);
void clear_confirm_listeners();

}  // namespace atrium::modules::sale
