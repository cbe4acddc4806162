// The bus's table side (modules/ir/bus.hpp, issue 22) on both backends: a
// message exists only if its transaction commits; the reads the server's feed
// makes (after an id, by ids, since a time); the old ones' removal; trytond's
// notify(); the announcement (NOTIFY only on commit; SQLite: the counter and
// the commit hook after it); and sale's "Order … confirmed".

#include "database/postgresql/pg_listener.hpp"
#include "modules/errors.hpp"
#include "modules/ir/bus.hpp"
#include "modules/registry.hpp"
#include "tests/modules/modules_fixture.hpp"
#include "transaction/retry.hpp"
#include "transaction/scopes.hpp"

#include <doctest/doctest.h>

#include <mutex>
#include <stdexcept>

using namespace atrium;
using namespace atrium::modules;
using namespace atrium::test;
using nlohmann::json;
namespace bus = atrium::modules::ir::bus;

namespace {

std::vector<bus::stored_message> all_messages(const std::shared_ptr<db::database>& db) {
    auto scope = begin(db, root_user, {.readonly = true});
    return bus::messages_after(0, 1000);
}

std::int64_t send(const std::shared_ptr<db::database>& db, const std::string& channel, const json& message) {
    auto scope = begin(db, root_user);
    return bus::notify(channel, message);
}

}  // namespace

TEST_CASE("bus: a message exists only if its transaction commits; its row id is its message_id") {
    modules_database f;
    {
        auto scope = begin(f.db(), root_user);
        bus::notify("user:1", {{"type", "notification"}, {"title", "never"}});
        scope.close(false);  // rolled back
    }
    CHECK_THROWS_AS(
        {
            auto scope = begin(f.db(), root_user);
            bus::notify("user:1", {{"title", "never either"}});
            throw std::runtime_error("the call fails after notifying");
        },
        std::runtime_error);
    CHECK(all_messages(f.db()).empty());

    const auto id = send(f.db(), "user:1", {{"type", "notification"}, {"title", "kept"}, {"message_id", "ignored"}});
    const auto messages = all_messages(f.db());
    REQUIRE(messages.size() == 1);
    CHECK(messages[0].id == id);
    CHECK(messages[0].channel == "user:1");
    CHECK(messages[0].message == json{{"type", "notification"}, {"title", "kept"}, {"message_id", id}});
    CHECK(messages[0].created > bus::epoch_now() - 60);

    auto scope = begin(f.db(), root_user);
    CHECK_THROWS_AS(bus::notify("", json::object()), user_error);
    CHECK_THROWS_AS(bus::notify("user:1", json::array()), user_error);
}

TEST_CASE("bus: the feed's reads: after an id, by ids in the order given, since a time; old ones removed") {
    modules_database f;
    const auto a = send(f.db(), "client:a", {{"n", 1}});
    const auto b = send(f.db(), "user:2", {{"n", 2}});
    const auto c = send(f.db(), "client:a", {{"n", 3}});
    auto scope = begin(f.db(), root_user);
    CHECK(bus::newest_id() == c);
    const auto after = bus::messages_after(a, 10);
    REQUIRE(after.size() == 2);
    CHECK(after[0].id == b);
    CHECK(after[1].id == c);
    CHECK(bus::messages_after(a, 1).size() == 1);
    const auto by_id = bus::messages_by_id({c, 999999, a});
    REQUIRE(by_id.size() == 2);
    CHECK(by_id[0].message.at("n") == 3);
    CHECK(by_id[1].message.at("n") == 1);
    CHECK(bus::messages_since(bus::epoch_now() - 60, 10).size() == 3);
    CHECK(bus::messages_since(bus::epoch_now() + 60, 10).empty());
    // Age the first one: only it is older than a minute.
    current().connection().execute("UPDATE ir_bus_message SET created_at = created_at - 3600 WHERE id = ?", {a});
    CHECK(bus::oldest_created() < bus::epoch_now() - 3000);
    CHECK(bus::remove_older_than(bus::epoch_now() - 60) == 1);
    CHECK(bus::messages_after(0, 10).size() == 2);
    CHECK(bus::remove_older_than(bus::epoch_now() - 60) == 0);
}

TEST_CASE("bus: notify_user sends trytond's notification to the client, else the user, else the context's client") {
    modules_database f;
    {
        auto scope = begin(f.db(), root_user, {.context = {{"client", "ctx-uuid"}}});
        CHECK(bus::notify_user("to the client", "b", 2, 7, std::string("given")).has_value());
        CHECK(bus::notify_user("to the user", "", 1, 7).has_value());
        CHECK(bus::notify_user("to the context's client").has_value());
    }
    {
        auto scope = begin(f.db(), root_user);
        CHECK_FALSE(bus::notify_user("to nobody").has_value());  // no client in the context
    }
    const auto messages = all_messages(f.db());
    REQUIRE(messages.size() == 3);
    CHECK(messages[0].channel == "client:given");
    CHECK(messages[0].message.at("type") == "notification");
    CHECK(messages[0].message.at("title") == "to the client");
    CHECK(messages[0].message.at("body") == "b");
    CHECK(messages[0].message.at("priority") == 2);
    CHECK(messages[1].channel == "user:7");
    CHECK(messages[2].channel == "client:ctx-uuid");
}

TEST_CASE("bus: a confirmed sale notifies its salesman: \"Order SO0001 confirmed\"") {
    modules_database f;
    std::int64_t order = 0;
    {
        auto scope = begin(f.db(), root_user);
        order = current_pool()->get("sale.order").create(json::array(
            {{{"customer", "ACME"},
              {"salesman", 1},
              {"lines", json::array({json::array({"create", json::array({{{"product", "bolt"},
                                                                           {"quantity", dec("3")},
                                                                           {"unit_price", dec("0.1")}}})})})}}}))[0];
    }
    call_with_retry(f.db(), root_user, {}, [order](transaction&) {
        return current_pool()->find_method("model.sale.order.confirm")->call(
            {json::array({json::array({order})}), json::object()});
    });
    const auto messages = all_messages(f.db());
    REQUIRE(messages.size() == 1);  // root (0) confirmed: the salesman only
    CHECK(messages[0].channel == "user:1");
    CHECK(messages[0].message.at("type") == "notification");
    CHECK(messages[0].message.at("title") == "Order SO0001 confirmed");
    CHECK(messages[0].message.at("body") == "Customer ACME, total 0.30");
}

TEST_SUITE(ATRIUM_SQLITE_ONLY) {
TEST_CASE("bus: on SQLite the shared counter and the commit hook move once the transaction has ended") {
    modules_database f;
    std::mutex mutex;
    std::vector<std::string> hooked;
    std::size_t visible_after = 0;
    bus::set_commit_hook([&](const std::string& database) {
        std::lock_guard lock(mutex);
        hooked.push_back(database);
    });
    const auto counter = f.db()->change_counter(bus::channel_name);
    REQUIRE(counter);
    const auto before = counter->load();
    {
        auto scope = begin(f.db(), root_user);
        bus::notify("user:1", {{"n", 1}});
        CHECK(counter->load() == before);  // not before the commit
        CHECK(hooked.empty());
    }
    visible_after = all_messages(f.db()).size();
    bus::set_commit_hook({});
    CHECK(counter->load() == before + 1);
    REQUIRE(hooked.size() == 1);
    CHECK(hooked[0] == f.db()->name());
    CHECK(visible_after == 1);
}
}

TEST_SUITE(ATRIUM_POSTGRESQL_ONLY) {
TEST_CASE("bus: on PostgreSQL NOTIFY atrium_bus carries the message id, only on commit") {
    modules_database f;
    std::string dsn = f.base.server.uri().substr(0, f.base.server.uri().find('?'));
    if (dsn.back() != '/') dsn += '/';
    db::pg_listener listener(dsn + f.db()->name(), bus::channel_name);
    {
        auto scope = begin(f.db(), root_user);
        bus::notify("user:1", {{"n", 1}});
        scope.close(false);
    }
    const auto id = send(f.db(), "user:1", {{"n", 2}});
    // Notifications arrive asynchronously: wait for the committed one; the rolled-back one never comes.
    std::vector<std::string> payloads;
    for (int i = 0; i < 200 && payloads.empty(); ++i) {
        payloads = listener.drain();
        if (payloads.empty()) fiber::current().sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(payloads.size() == 1);
    CHECK(payloads[0] == std::to_string(id));
}
}
