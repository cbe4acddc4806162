#pragma once
// The bus notification of a confirmed sale (issue 22): "Order SO0042
// confirmed" to its salesman and to the user who confirmed it, sent with the
// confirming transaction (delivered only if it commits).

#include <cstdint>
#include <string>

namespace atrium::modules {
class model;
}

namespace atrium::modules::sale {

/// Inside confirm(), once `order_id` has its `number`.
void notify_confirmed(const model& orders, std::int64_t order_id, const std::string& number);

}  // namespace atrium::modules::sale
