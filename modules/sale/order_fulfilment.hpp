#pragma once
// What confirming a sale order does outside its own database, each part
// joining a transaction as a two-phase-commit participant (SPEC §5) so that it
// happens together with that transaction or not at all: the stock reservation
// in the "warehouse" PostgreSQL database joins the confirming transaction
// (reserve_stock); the confirmation mail in the outbox and the order file join
// the transaction of the task the confirmation queues (send_documents, run by
// a queue worker). Each part is optional: an empty setting leaves it out. The
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

/// Joins the warehouse (if `settings` names one) to `txn` and reserves the order's lines.
void reserve_stock(transaction& txn, const order_summary& order, const fulfilment_settings& settings);

/// Throws a UserError when the order's file name would leave orders_dir (its
/// number comes from data); checked at confirmation so that such an order is
/// never confirmed, and again when the file is written.
void check_order_file(const order_summary& order, const fulfilment_settings& settings);

/// Joins the mail outbox and the file manager (those `settings` names) to
/// `txn` and stages the confirmation mail and the order file.
void send_documents(transaction& txn, const order_summary& order, const fulfilment_settings& settings);

/// Creates the warehouse's reservation table if missing (outside any transaction).
void prepare_warehouse(const std::string& dsn);

}  // namespace atrium::modules::sale
