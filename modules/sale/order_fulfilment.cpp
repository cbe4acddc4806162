#include "modules/sale/order_fulfilment.hpp"

#include "database/database.hpp"
#include "modules/errors.hpp"
#include "participants/pg_participant.hpp"
#include "participants/file_manager.hpp"
#include "participants/mail_outbox.hpp"
#include "transaction/transaction.hpp"

#include <filesystem>

namespace atrium::modules::sale {
namespace {

std::string order_text(const order_summary& order) {
    std::string text = "order " + order.number + "\ncustomer " + order.customer + "\n";
    for (const auto& line : order.lines) text += "line " + line.product + " x " + line.quantity + "\n";
    return text;
}

}  // namespace

void reserve_stock(transaction& txn, const order_summary& order, const fulfilment_settings& settings) {
    if (!settings.warehouse_dsn.empty()) {
        auto& warehouse = db::pg_join(settings.warehouse_dsn, txn, {{"reservation", order.number}});
        for (const auto& line : order.lines)
            warehouse.execute(
                "INSERT INTO reservation (order_number, product, quantity) VALUES (?, ?, CAST(? AS NUMERIC))",
                {order.number, line.product, line.quantity});
    }
}

void check_order_file(const order_summary& order, const fulfilment_settings& settings) {
    if (settings.staging.empty() || settings.orders_dir.empty()) return;
    std::filesystem::create_directories(settings.orders_dir);
    try {
        (void)path_within(settings.orders_dir, order.number + ".txt");
    } catch (const path_error& e) {
        throw modules::user_error("The order file of \"" + order.number + "\" cannot be written.", e.what());
    }
}

void send_documents(transaction& txn, const order_summary& order, const fulfilment_settings& settings) {
    const std::string recipient = order.email.empty() ? settings.mail_to : order.email;
    if (!settings.maildir.empty() && !recipient.empty()) {
        std::string body = "Your order " + order.number + " is confirmed.\n\n" + order_text(order);
        mail_outbox(settings.maildir)
            .queue(txn, {.from = settings.mail_from, .to = {recipient}, .subject = "Order " + order.number,
                         .body = body});
    }
    if (!settings.staging.empty() && !settings.orders_dir.empty()) {
        std::filesystem::create_directories(settings.orders_dir);
        // The number comes from data (the sequence's prefix): the file manager
        // keeps the file inside orders_dir or refuses it, failing the whole call.
        try {
            file_manager(settings.staging, settings.orders_dir).write(txn, order.number + ".txt", order_text(order));
        } catch (const path_error& e) {
            throw modules::user_error("The order file of \"" + order.number + "\" cannot be written.", e.what());
        }
    }
}

void prepare_warehouse(const std::string& dsn) {
    auto separator = dsn.rfind('/');
    auto backend = db::open_backend(dsn.substr(0, separator + 1));
    auto database = backend->open(dsn.substr(separator + 1));
    auto conn = database->acquire();
    conn->begin({});
    conn->execute(
        "CREATE TABLE IF NOT EXISTS reservation (id SERIAL PRIMARY KEY, order_number TEXT NOT NULL, "
        "product TEXT NOT NULL, quantity NUMERIC NOT NULL CHECK (quantity > 0 AND quantity <= 1000))");
    conn->commit();
    conn.return_to_pool();
}

}  // namespace atrium::modules::sale
