// ir and res: access rights, users and passwords, login, sessions, warnings,
// preferences, sequences, the exposed RPC methods.
#include "modules/errors.hpp"
#include "modules/ir/ir.hpp"
#include "modules/registry.hpp"
#include "modules/res/auth.hpp"
#include "modules/res/users.hpp"
#include "tests/modules/modules_fixture.hpp"
#include "transaction/errors.hpp"
#include "transaction/retry.hpp"
#include "transaction/scopes.hpp"

#include <doctest/doctest.h>

#include <chrono>

using namespace atrium;
using namespace atrium::modules;
using namespace atrium::test;
using nlohmann::json;

namespace {
std::int64_t make_user(const char* login, const char* password = nullptr) {
    json v = {{"name", login}, {"login", login}};
    if (password) v["password"] = password;
    return current_pool()->get("res.user").create(json::array({v}))[0];
}
}  // namespace

TEST_CASE("modules: init creates root (0) and admin (1) with a hashed password") {
    modules_database f;
    CHECK(is_atrium_database(*f.db()));
    CHECK(active_modules(*f.db()) == std::vector<std::string>{"ir", "res", "sale", "test_types"});
    auto scope = begin(f.db(), root_user);
    auto r = current().connection().execute("SELECT \"id\", \"login\", \"password_hash\" FROM \"res_user\" ORDER BY \"id\"");
    REQUIRE(r.size() == 2);
    CHECK(std::get<std::int64_t>(r.rows[0][0]) == 0);
    CHECK(std::get<std::int64_t>(r.rows[1][0]) == 1);
    CHECK(std::get<std::string>(r.rows[1][1]) == "admin");
    const auto hash = std::get<std::string>(r.rows[1][2]);
    CHECK(hash.starts_with("$argon2id$"));
    CHECK(hash.find("admin-secret") == std::string::npos);
    CHECK(res::user_login(1) == "admin");
    CHECK(res::user_login(0) == "root");
    CHECK(res::user_login(99) == "");
    CHECK(current_pool()->get("ir.model").search_count(json::array({leaf("model", "=", "sale.order")})) == 1);
}

TEST_CASE("modules: a fresh database is not an Atrium database") {
    test_database t;
    CHECK_FALSE(is_atrium_database(*t.db));
    CHECK_THROWS_AS(update_database(t.db), std::runtime_error);
}

TEST_CASE("modules: access rights per group, with and without root, cached and invalidated") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    const model& access = p->get("ir.model.access");
    const model& tags = p->get("test.tag");
    const auto alice = make_user("alice");
    const auto group = p->get("res.group").create(json::array({{{"name", "Taggers"}}}))[0];
    tags.create(json::array({{{"name", "t"}}}));
    {
        auto as_alice = set_user(alice);
        auto checked = checking_access();
        CHECK(tags.search_count(json::array()) == 1);  // no rows for the model: allowed
    }
    access.create(json::array({{{"model", "test.tag"}, {"perm_read", true}},
                               {{"model", "test.tag"}, {"group", group}, {"perm_read", true}, {"perm_write", true},
                                {"perm_create", true}}}));
    {
        auto as_alice = set_user(alice);
        auto checked = checking_access();
        CHECK(tags.search_count(json::array()) == 1);
        CHECK_THROWS_WITH_AS(tags.create(json::array({{{"name", "u"}}})), doctest::Contains("create"), access_error);
        // Without _check_access (framework-internal code) nothing is checked.
        auto internal = without_check_access();
        CHECK_NOTHROW(tags.create(json::array({{{"name", "u"}}})));
    }
    {
        auto checked = checking_access();
        CHECK_NOTHROW(tags.create(json::array({{{"name", "root"}}})));  // root bypasses everything
    }
    // Group membership changes the (cached) rights at once.
    p->get("res.user").write({alice}, {{"groups", json::array({json::array({"add", {group}})})}});
    {
        auto as_alice = set_user(alice);
        auto checked = checking_access();
        CHECK_NOTHROW(tags.create(json::array({{{"name", "v"}}})));
        CHECK_THROWS_AS(tags.remove(tags.search(json::array())), access_error);
    }
    // An access row granting delete is seen at once too.
    access.write(access.search(json::array({leaf("group", "=", group)})), {{"perm_delete", true}});
    {
        auto as_alice = set_user(alice);
        auto checked = checking_access();
        CHECK_NOTHROW(tags.remove(tags.search(json::array())));
    }
    // A member of a child group has the rights of the parent group.
    const auto carol = make_user("carol");
    const auto child = p->get("res.group").create(json::array({{{"name", "Junior taggers"}, {"parent", group}}}))[0];
    {
        auto as_carol = set_user(carol);
        auto checked = checking_access();
        CHECK_THROWS_AS(tags.create(json::array({{{"name", "w"}}})), access_error);
    }
    p->get("res.group").write({child}, {{"users", json::array({json::array({"add", {carol}})})}});
    {
        auto as_carol = set_user(carol);
        auto checked = checking_access();
        CHECK_NOTHROW(tags.create(json::array({{{"name", "w"}}})));
    }
    // Sessions are for root only over RPC; the hash is never readable.
    {
        auto as_alice = set_user(alice);
        auto checked = checking_access();
        CHECK_THROWS_AS(p->get("ir.session").search(json::array()), access_error);
        CHECK_THROWS_AS(p->get("res.user").read({alice}, {"password_hash"}), access_error);
        CHECK_THROWS_AS(p->get("res.user").write({alice}, {{"name", "x"}}), access_error);  // only administrators
        CHECK(p->get("res.user").read({1}, {"name", "login"})[0]["login"] == "admin");
    }
    {
        auto as_admin = set_user(1);
        auto checked = checking_access();
        CHECK_NOTHROW(p->get("res.user").write({alice}, {{"name", "Alice"}}));
    }
}

TEST_CASE("modules: login, rate limits and sessions") {
    modules_database f;
    res::session_settings s;
    s.max_attempt = 2;
    {
        auto scope = begin(f.db(), root_user);
        CHECK(res::login("admin", {{"password", "admin-secret"}}, "192.0.2.1", s) == 1);
        CHECK_THROWS_AS(res::login("admin", json::object(), "192.0.2.1", s), login_exception);
    }
    // Failed attempts are recorded even when the caller rolls back afterwards.
    try {
        auto scope = begin(f.db(), root_user);
        CHECK(res::login("admin", {{"password", "wrong"}}, "192.0.2.1", s) == 0);
        throw std::runtime_error("caller fails");
    } catch (const std::runtime_error&) {
    }
    std::vector<double> delays;
    {
        auto scope = begin(f.db(), root_user);
        res::session_settings delayed = s;
        delayed.failure_delay = [&](double seconds) { delays.push_back(seconds); };
        CHECK(res::login("admin", {{"password", "wrong"}}, "192.0.2.1", delayed) == 0);
        CHECK(delays.empty());  // after the transaction ended
    }
    REQUIRE(delays.size() == 1);
    CHECK(delays[0] >= 0.0);
    CHECK(delays[0] <= 3.0);  // second failure: 0 … 2^2 − 1 s
    {
        auto scope = begin(f.db(), root_user);
        CHECK(res::login("nobody", {{"password", "x"}}, "192.0.2.1", s) == 0);
        CHECK(res::login("admin", {{"password", "wrong"}}, "192.0.2.1", s) == 0);
        CHECK_THROWS_AS(res::login("admin", {{"password", "admin-secret"}}, "192.0.2.1", s), rate_limit_exception);
    }
    {
        auto scope = begin(f.db(), root_user);
        auto r = current().connection().execute("SELECT count(*) FROM \"res_user_login_attempt\" WHERE \"login\" = 'admin'");
        CHECK(std::get<std::int64_t>(r.rows[0][0]) == 4);
        res::session_settings ip = s;
        ip.max_attempt_ip_network = 3;
        CHECK_THROWS_AS(res::login("other", {{"password", "x"}}, "192.0.2.1", ip), rate_limit_exception);
    }
    std::string key;
    {
        auto scope = begin(f.db(), root_user);
        key = res::create_session(1);
        CHECK(key.size() == 64);
        CHECK(key.find_first_not_of("0123456789abcdef") == std::string::npos);
        CHECK(res::check_session(1, key, false, s));
        CHECK(res::check_session(1, key, true, s));
        CHECK_FALSE(res::check_session(1, std::string(64, '0'), false, s));
        CHECK_FALSE(res::check_session(2, key, false, s));
        res::touch_session(1, key);
        // An old session: fresh checks fail and delete it.
        current().connection().execute("UPDATE \"ir_session\" SET \"write_date\" = ?, \"create_date\" = ?",
                                       {std::string("2000-01-01 00:00:00.000000"), datetime::now().to_sql()});
        CHECK(res::check_session(1, key, false, s));
        CHECK_FALSE(res::check_session(1, key, true, s));
        CHECK_FALSE(res::check_session(1, key, false, s));
        key = res::create_session(1);
        current().connection().execute("UPDATE \"ir_session\" SET \"create_date\" = ?", {std::string("2000-01-01 00:00:00.000000")});
        CHECK_FALSE(res::check_session(1, key, false, s));  // older than max_age
        key = res::create_session(1);
        res::delete_session(1, key);
        CHECK_FALSE(res::check_session(1, key, false, s));
        key = res::create_session(1);
        current().connection().execute("UPDATE \"ir_session\" SET \"write_date\" = ?", {std::string("2000-01-01 00:00:00.000000")});
    }
    {
        // A read-only caller: the stale session is still deleted (in a transaction of its own).
        auto scope = begin(f.db(), root_user, {.readonly = true});
        CHECK_FALSE(res::check_session(1, key, true, s));
    }
    {
        auto scope = begin(f.db(), root_user, {.readonly = true});
        CHECK_FALSE(res::check_session(1, key, false, s));
        CHECK(current_pool()->get("ir.session").search_count(json::array()) == 0);
    }
}

TEST_CASE("modules: user warnings, preferences, exposed methods") {
    modules_database f;
    auto scope = begin(f.db(), root_user);
    const auto p = current_pool();
    const auto bob = make_user("bob", "bob-password");
    {
        auto as_bob = set_user(bob);
        CHECK(res::check_warning("w1"));
        CHECK_THROWS_AS(res::warn("w1", "careful"), user_warning);
    }
    // The benchmark's call: model.res.user.warning.create([{user, name, always: false}], {}).
    const auto* create = p->find_method("model.res.user.warning.create");
    REQUIRE(create);
    CHECK_FALSE(create->rpc.readonly);
    create->call({json::array({json::array({{{"user", bob}, {"name", "w1"}, {"always", false}}})}), json::object()});
    {
        auto as_bob = set_user(bob);
        CHECK_NOTHROW(res::warn("w1", "careful"));  // confirmed once: consumed
        CHECK(current().check_warnings["w1"].size() == 1);
        CHECK(res::check_warning("w1"));
    }
    {
        auto as_bob = set_user(bob);
        auto checked = checking_access();
        const auto* prefs = p->find_method("model.res.user.get_preferences");
        REQUIRE(prefs);
        CHECK(prefs->call({json::array({false}), json::object()})["login"] == "bob");
        const auto* set = p->find_method("model.res.user.set_preferences");
        REQUIRE(set);
        CHECK(set->rpc.fresh_session);
        set->call({json::array({{{"language", "fr"}, {"password", "new-password"}}}), json::object()});
        // The context the Tryton client sends back with every call.
        const json context = prefs->call({json::array({true}), json::object()});
        CHECK(context["language"] == "fr");
        CHECK(context["language_direction"] == "ltr");
        CHECK(context["groups"].is_array());
        CHECK_FALSE(context.contains("pyson_menu"));
        const json all = prefs->call({json::array({false}), json::object()});
        CHECK(all["pyson_menu"].is_string());
        CHECK(json::parse(all["pyson_menu"].get<std::string>())["res_model"] == "ir.ui.menu");
        CHECK(all["actions"] == json::array());
        CHECK(all["password"] == "xxxxxxxxxx");
        CHECK_THROWS_AS(set->call({json::array({{{"login", "root2"}}}), json::object()}), user_error);
        const auto* read = p->find_method("model.res.user.read");
        REQUIRE(read);
        CHECK(read->call({json::array({json::array({1}), json::array({"name", "login"})}), json::object()}) ==
              json::array({{{"id", 1}, {"name", "Administrator"}, {"login", "admin"}}}));
        // What the Tryton client reads besides fields: rec_name, "<relation>.rec_name" nested under
        // "<relation>." (the relation itself only when asked), and the user's rights on the record.
        const json rows = read->call(
            {json::array({json::array({1}), json::array({"rec_name", "groups.rec_name", "_write", "_delete"})}),
             json::object()});
        CHECK(rows[0]["rec_name"] == "Administrator");
        CHECK(rows[0]["groups."][0]["rec_name"] == "Administration");
        CHECK_FALSE(rows[0].contains("groups"));
        CHECK_FALSE(rows[0].contains("name"));
        CHECK(rows[0]["_write"] == false);  // bob may not change users
        CHECK(rows[0]["_delete"] == false);
    }
    CHECK(res::login("bob", {{"password", "new-password"}}, "192.0.2.9", {}) == bob);
    CHECK(p->has_object("model.res.user"));
    CHECK_FALSE(p->has_object("model.res.nope"));
    CHECK(p->find_method("model.res.user.nope") == nullptr);
    const auto names = p->method_names();
    CHECK(std::find(names.begin(), names.end(), "model.sale.order.confirm") != names.end());
    CHECK(std::find(names.begin(), names.end(), "model.ir.model.access.search_read") != names.end());
    const auto* w = p->find_method("model.sale.order.write");
    REQUIRE(w);
    CHECK(w->rpc.instantiate.how == rpc_instantiate::kind::slice);
    CHECK(w->rpc.instantiate.step == 2);
    CHECK(p->find_method("model.sale.order.copy")->rpc.unique == false);
    CHECK(p->find_method("model.sale.order.search")->rpc.readonly);
}

TEST_CASE("modules: strict sequences need the table lock and go through the retry loop") {
    modules_database f;
    {
        auto scope = begin(f.db(), root_user);
        CHECK_THROWS_AS(ir::next_strict_number("sale.order"), table_lock_required);
    }
    retry_report report;
    const auto first = call_with_retry(f.db(), root_user, {}, [](transaction&) { return json(ir::next_strict_number("sale.order")); }, &report);
    CHECK(first == "SO0001");
    CHECK(report.fixes == 1);
    const auto second = call_with_retry(f.db(), root_user, {}, [](transaction&) { return json(ir::next_strict_number("sale.order")); });
    CHECK(second == "SO0002");
    auto scope = begin(f.db(), root_user);
    current_pool()->get("ir.sequence").create(json::array({{{"name", "n"}, {"code", "plain"}, {"prefix", "P-"}}}));
    CHECK(ir::next_number("plain") == "P-1");
    CHECK(ir::next_number("plain") == "P-2");
    CHECK_THROWS_AS(ir::next_number("nope"), user_error);
    CHECK(ir::default_language() == "en");
}

TEST_CASE("modules: a cached pool notices modules (de)activated by another process") {
    // The pool's re-check interval passes on a clock moved by hand.
    auto clock_now = std::chrono::steady_clock::now();
    struct hand_clock {
        pool_clock previous;
        ~hand_clock() { set_pool_clock(std::move(previous)); }
    } clock{set_pool_clock([&clock_now] { return clock_now; })};
    modules_database f;
    std::shared_ptr<const pool> first;
    {
        auto scope = begin(f.db(), root_user);
        first = current_pool();
        CHECK(first->has_object("model.sale.order"));
        CHECK(current_pool() == first);  // cached
        // What another process's atrium-admin would leave behind.
        current().connection().execute("UPDATE \"ir_module\" SET \"state\" = 'not activated' WHERE \"name\" = 'sale'");
    }
    clock_now += pool::module_check_interval + std::chrono::milliseconds(100);
    auto scope = begin(f.db(), root_user);
    const auto now = current_pool();
    CHECK(now != first);
    CHECK_FALSE(now->has_object("model.sale.order"));
    CHECK(now->has_object("model.res.user"));
}

TEST_CASE("modules: deleting sessions moves the database's change counter (SQLite; PostgreSQL notifies)") {
    modules_database f;
    auto counter = f.db()->change_counter(res::session_channel);
    if (!counter) return;  // PostgreSQL: NOTIFY at commit instead
    const auto before = counter->load();
    {
        auto scope = begin(f.db(), root_user);
        const auto key = res::create_session(1);
        CHECK(counter->load() == before);  // creating one moves nothing
        res::delete_session(1, key);
        CHECK(counter->load() == before + 1);  // at once, inside the transaction
    }
    CHECK(counter->load() == before + 2);  // and again once it has ended
}

TEST_CASE("modules: failed logins lock out their network only; the tarpit is bounded") {
    modules_database f;
    res::session_settings s;
    s.max_attempt = 2;
    s.max_attempt_ip_network = 20;
    std::vector<double> delays;
    s.failure_delay = [&](double seconds) { delays.push_back(seconds); };
    auto attempt = [&](const char* password, const char* ip) {
        auto scope = begin(f.db(), root_user);
        return res::login("admin", {{"password", password}}, ip, s);
    };
    for (int i = 0; i < 3; ++i) CHECK(attempt("wrong", "192.0.2.66") == 0);
    CHECK_THROWS_AS(attempt("wrong", "192.0.2.66"), rate_limit_exception);
    CHECK_THROWS_AS(attempt("admin-secret", "192.0.2.66"), rate_limit_exception);
    // Another network: admin's password works, and the attacker's count stays.
    CHECK(attempt("admin-secret", "198.51.100.7") == 1);
    CHECK_THROWS_AS(attempt("admin-secret", "192.0.2.66"), rate_limit_exception);
    REQUIRE(delays.size() == 3);
    for (double d : delays) CHECK((d >= 0.0 && d <= 1.0));
    // Past max_attempt_ip_network failures for one login across networks,
    // a network that failed for it is refused at once; a clean one may try.
    for (int n = 1; n <= 20; ++n) {
        CHECK(attempt("wrong", ("203.0.113." + std::to_string(n)).c_str()) == 0);
    }
    CHECK_THROWS_AS(attempt("wrong", "203.0.113.1"), rate_limit_exception);
    CHECK(attempt("admin-secret", "198.51.100.8") == 1);
}

TEST_CASE("modules: sequence prefixes and suffixes keep to a safe character set") {
    modules_database f;
    ids id;
    {
        auto scope = begin(f.db(), root_user);
        id = current_pool()->get("ir.sequence").create(
            json::array({{{"name", "n"}, {"code", "safe"}, {"prefix", "INV-2026.A_ "}}}));
    }
    for (const char* bad : {"../x", "/etc/x", "a/b", "a\\b", "..", "x\ty", "%(year)s"}) {
        CAPTURE(bad);
        auto scope = begin(f.db(), root_user);
        const auto p = current_pool();
        CHECK_THROWS_AS(p->get("ir.sequence").write(id, {{"prefix", bad}}), user_error);
        CHECK_THROWS_AS(p->get("ir.sequence").write(id, {{"suffix", bad}}), user_error);
        CHECK_THROWS_AS(p->get("ir.sequence.strict").create(
                            json::array({{{"name", "s"}, {"code", std::string("s") + bad}, {"prefix", bad}}})),
                        user_error);
        scope.close(false);
    }
    auto scope = begin(f.db(), root_user);
    CHECK(ir::next_number("safe") == "INV-2026.A_ 1");
}
