// The sale example's fulfilment (modules/sale/order_fulfilment.hpp): a
// confirmation writes to the main database (backend under test), reserves
// stock in a second PostgreSQL database, queues a mail and writes an order
// file — all four or none.

#include "database/database.hpp"
#include "modules/sale/order_fulfilment.hpp"
#include "modules/sale/sale_settings.hpp"
#include "tests/support/pg_cluster.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_database.hpp"
#include "transaction/transaction.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <stdexcept>

using namespace atrium;
namespace fs = std::filesystem;
namespace sale = atrium::modules::sale;

namespace {

std::size_t files_in(const fs::path& dir) {
    if (!fs::exists(dir)) return 0;
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

struct fulfilment_fixture {
    test::test_database main;
    test::temp_dir dir{"atrium-fulfil-"};
    std::unique_ptr<db::backend> pg = db::open_backend(test::pg_dsn(), fiber_wait_hooks());
    std::string warehouse = main.server.unique_name("warehouse");
    std::shared_ptr<db::database> warehouse_db;
    sale::fulfilment_settings settings{.warehouse_dsn = test::pg_dsn() + warehouse,
                                       .maildir = (dir.path() / "mail").string(),
                                       .staging = (dir.path() / "staging").string(),
                                       .orders_dir = (dir.path() / "orders").string(),
                                       .mail_to = {},
                                       .mail_from = "sales@example.com"};

    fulfilment_fixture() {
        pg->create(warehouse);
        sale::prepare_warehouse(test::pg_dsn() + warehouse);
        warehouse_db = pg->open(warehouse);
    }
    ~fulfilment_fixture() {
        warehouse_db.reset();
        try {
            pg->drop(warehouse);
        } catch (...) {
        }
    }

    std::int64_t count(const std::shared_ptr<db::database>& database, const std::string& sql) {
        auto conn = database->acquire();
        db::begin_options options;
        options.readonly = true;
        conn->begin(options);
        auto rows = conn->execute(sql);
        conn->rollback();
        conn.return_to_pool();
        return std::get<std::int64_t>(rows.rows.at(0).at(0));
    }
    std::int64_t reservations() { return count(warehouse_db, "SELECT COUNT(*) FROM reservation"); }
    std::int64_t notes() { return count(main.db, "SELECT COUNT(*) FROM note"); }
    // This database's only: other tests keep branches prepared on the shared cluster.
    std::int64_t prepared() {
        return count(warehouse_db, "SELECT COUNT(*) FROM pg_prepared_xacts WHERE database = current_database()");
    }
    std::size_t mails() { return files_in(dir.path() / "mail" / "new") + files_in(dir.path() / "mail" / "tmp"); }
    std::size_t order_files() { return files_in(dir.path() / "orders"); }

    sale::order_summary order(const std::string& second_quantity = "1") {
        return {.id = 1, .number = "SO1", .customer = "Alice", .email = "alice@example.com",
                .lines = {{"Widget", "2"}, {"Gadget", second_quantity}}};
    }
};

}  // namespace

TEST_CASE("sale fulfilment: a committed confirmation reserves stock, queues the mail and writes the order file") {
    fulfilment_fixture f;
    {
        auto scope = begin(f.main.db, root_user);
        scope->connection().execute("INSERT INTO note (text) VALUES ('confirmed SO1')");
        sale::reserve_stock(*scope, f.order(), f.settings);
        sale::send_documents(*scope, f.order(), f.settings);
        scope.close(true);
    }
    CHECK(f.notes() == 1);
    CHECK(f.reservations() == 2);
    CHECK(files_in(f.dir.path() / "mail" / "new") == 1);
    CHECK(files_in(f.dir.path() / "mail" / "tmp") == 0);
    CHECK(fs::exists(f.dir.path() / "orders" / "SO1.txt"));
    CHECK(f.prepared() == 0);
}

TEST_CASE("sale fulfilment: a warehouse refusal leaves none of the four") {
    fulfilment_fixture f;
    CHECK_THROWS([&] {
        auto scope = begin(f.main.db, root_user);
        scope->connection().execute("INSERT INTO note (text) VALUES ('confirmed SO1')");
        sale::reserve_stock(*scope, f.order("5000"), f.settings);  // CHECK (quantity <= 1000) fails on the second line
        sale::send_documents(*scope, f.order("5000"), f.settings);
        scope.close(true);
    }());
    CHECK(f.notes() == 0);
    CHECK(f.reservations() == 0);
    CHECK(f.mails() == 0);
    CHECK(f.order_files() == 0);
    CHECK(f.prepared() == 0);
}

TEST_CASE("sale fulfilment: an error after the work was staged leaves none of the four") {
    fulfilment_fixture f;
    CHECK_THROWS_AS([&] {
        auto scope = begin(f.main.db, root_user);
        scope->connection().execute("INSERT INTO note (text) VALUES ('confirmed SO1')");
        sale::reserve_stock(*scope, f.order(), f.settings);
        sale::send_documents(*scope, f.order(), f.settings);
        throw std::runtime_error("the confirmation fails after fulfilment was staged");
    }(), std::runtime_error);
    CHECK(f.notes() == 0);
    CHECK(f.reservations() == 0);
    CHECK(f.mails() == 0);
    CHECK(f.order_files() == 0);
    CHECK(f.prepared() == 0);
}

TEST_CASE("sale settings: the module reads [sale], mail.maildir and files.staging from its configuration") {
    const auto none = sale::read_fulfilment_settings(modules::module_config{});
    CHECK(none.warehouse_dsn.empty());
    CHECK(none.maildir.empty());
    CHECK(none.staging.empty());
    CHECK(none.orders_dir.empty());
    CHECK(none.mail_to.empty());
    CHECK(none.mail_from == "sales@localhost");

    modules::module_config config;
    config.set("sale", "warehouse", "postgresql://app@db:5432/warehouse");
    config.set("sale", "orders_dir", "/srv/orders");
    config.set("sale", "mail_to", "desk@example.com");
    config.set("sale", "mail_from", "shop@example.com");
    config.set("mail", "maildir", "/srv/mail");
    config.set("files", "staging", "/srv/staging");
    const auto read = sale::read_fulfilment_settings(config);
    CHECK(read.warehouse_dsn == "postgresql://app@db:5432/warehouse");
    CHECK(read.orders_dir == "/srv/orders");
    CHECK(read.mail_to == "desk@example.com");
    CHECK(read.mail_from == "shop@example.com");
    CHECK(read.maildir == "/srv/mail");
    CHECK(read.staging == "/srv/staging");
}

TEST_CASE("sale settings: the declared [sale] keys, their defaults and checks") {
    const auto declared = sale::settings();
    std::map<std::string, const modules::module_setting*> by_key;
    for (const auto& setting : declared) by_key[setting.key] = &setting;
    REQUIRE(by_key.size() == 4);
    CHECK(by_key.at("warehouse")->default_value.empty());
    CHECK(by_key.at("orders_dir")->default_value == "./var/orders");
    CHECK(by_key.at("mail_to")->default_value.empty());
    CHECK(by_key.at("mail_from")->default_value == "sales@localhost");
    CHECK(by_key.at("mail_to")->check("  desk@example.com ") == "desk@example.com");
    CHECK_THROWS_WITH_AS(by_key.at("mail_to")->check("not an address"), doctest::Contains("expected a mail address"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(by_key.at("warehouse")->check("host=db"), doctest::Contains("expected postgresql://"),
                         std::invalid_argument);
    CHECK(by_key.at("warehouse")->check("") == "");
}
