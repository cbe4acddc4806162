#pragma once
// What confirming a sale order does outside its own database, all inside the
// confirming transaction so that it happens together with the confirmation or
// not at all (two-phase commit, SPEC §5): a stock reservation in the
// "warehouse" PostgreSQL database, a confirmation mail in the outbox, and the
// order file. Each part is optional: an empty setting leaves it out. The
// settings come from the module's configuration section (sale_settings.hpp).

#include <cstdint>
#include <string>
#include <vector>

namespace atrium {
class transaction;
}

namespace atrium::modules::sale {

struct fulfilment_settings {
    std::string warehouse_dsn;  ///< postgresql://user@host:port/warehouse (also list it in tpc.participants)
    std::string maildir;        ///< the mail outbox (mail.maildir)
    std::string staging;        ///< the file manager's staging directory (files.staging)
    std::string orders_dir;     ///< where order files go: <orders_dir>/<number>.txt
    std::string mail_to;        ///< recipient of the confirmation mail when the order names none
    std::string mail_from = "sales@localhost";
};

struct order_line_summary {
    std::string product;
    std::string quantity;  ///< exact decimal text
};

struct order_summary {
    std::int64_t id = 0;
    std::string number;
    std::string customer;
    std::string email;  ///< empty: the configured mail_to (and no mail if that is empty too)
    std::vector<order_line_summary> lines;
};

/// Joins the participants `settings` names to `txn` and stages the work.
void fulfil(transaction& txn, const order_summary& order, const fulfilment_settings& settings);

/// Creates the warehouse's reservation table if missing (outside any transaction).
void prepare_warehouse(const std::string& dsn);

}  // namespace atrium::modules::sale
