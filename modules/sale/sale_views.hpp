#pragma once
// What the sale module shows in the client: the Sales menu, its window
// action and the tree and form views of sale.order and sale.order.line.

#include "modules/ui_def.hpp"

#include <string>

namespace atrium::modules::sale {

ui_def views();
/// The Confirm button of sale.order: shown on drafts only.
button_def confirm_button();
/// The states of an order's editable fields: readonly unless the order is a
/// draft (PYSON text; the field depends on "state").
std::string readonly_unless_draft();

}  // namespace atrium::modules::sale
