#include "modules/sale/confirm_notice.hpp"

#include "modules/ir/bus.hpp"
#include "modules/model.hpp"
#include "transaction/transaction.hpp"

#include <set>

namespace atrium::modules::sale {

void notify_confirmed(const model& orders, std::int64_t order_id, const std::string& number) {
    const auto order = orders.browse(order_id, {"salesman", "customer", "total"});
    std::set<std::int64_t> users{current().user()};
    if (!order.is_null("salesman")) users.insert(order.get<std::int64_t>("salesman"));
    std::string body = "Customer " + order.get<std::string>("customer");
    if (!order.is_null("total")) body += ", total " + order.get<decimal>("total").rounded(2).to_string();
    for (const auto user : users)
        if (user > 0) ir::bus::notify_user("Order " + number + " confirmed", body, 1, user);
}

}  // namespace atrium::modules::sale
