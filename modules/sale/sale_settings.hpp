#pragma once
// The sale module's configuration section, `[sale]` (etc/atrium.conf): the
// keys it declares to the server, with their defaults and checks, and the
// fulfilment settings it reads back from the loaded configuration.

#include "modules/module_config.hpp"
#include "modules/sale/order_fulfilment.hpp"

#include <vector>

namespace atrium::modules::sale {

/// `warehouse`, `orders_dir`, `mail_to`, `mail_from` with their defaults and checks.
std::vector<module_setting> settings();

/// What confirming an order does outside the main database, as `config` says:
/// `[sale]` plus the mail outbox (`mail.maildir`) and the file manager's
/// staging directory (`files.staging`). An empty configuration: none of it.
fulfilment_settings read_fulfilment_settings(const module_config& config);

}  // namespace atrium::modules::sale
