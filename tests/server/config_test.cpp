// The server configuration: defaults, INI file, environment overrides, rejection of unknown keys.

#include "server/config.hpp"
#include "server/queue_workers.hpp"
#include "tests/support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>

using namespace atrium::server;

TEST_CASE("config: the documented defaults") {
    auto cfg = parse_config("");
    CHECK(cfg.database.uri == "sqlite://./var");
    CHECK(cfg.database.name == "atrium");
    CHECK(cfg.database.retry == 5);
    CHECK(cfg.database.language == "en");
    CHECK(cfg.web.host == "127.0.0.1");
    CHECK(cfg.web.port == 8000);
}

TEST_CASE("config: INI sections and keys override the defaults") {
    auto cfg = parse_config(
        "; comment\n# comment\n[database]\nuri = sqlite:///srv/atrium\nretry = 2\n[web]\nlisten = 0.0.0.0:8069\n");
    CHECK(cfg.database.uri == "sqlite:///srv/atrium");
    CHECK(cfg.database.retry == 2);
    CHECK(cfg.web.host == "0.0.0.0");
    CHECK(cfg.web.port == 8069);
}

TEST_CASE("config: unknown sections and keys are rejected with a clear message") {
    CHECK_THROWS_WITH_AS(parse_config("[database]\nurl = x\n"), doctest::Contains("[database] url: unknown key"), config_error);
    CHECK_THROWS_AS(parse_config("[nosuch]\nkey = 1\n"), config_error);
    CHECK_THROWS_AS(parse_config("[database]\nretry = many\n"), config_error);
    CHECK_THROWS_AS(parse_config("[web]\nlisten = nowhere\n"), config_error);
}

TEST_CASE("config: ATRIUM_<SECTION>__<KEY> environment variables override the file") {
    auto cfg = parse_config("[database]\nname = fromfile\n");
    apply_environment(cfg, {{"ATRIUM_DATABASE__NAME", "fromenv"}, {"ATRIUM_WEB__LISTEN", "127.0.0.1:9000"}});
    CHECK(cfg.database.name == "fromenv");
    CHECK(cfg.web.port == 9000);
    CHECK_THROWS_AS(apply_environment(cfg, {{"ATRIUM_DATABASE__NOPE", "1"}}), config_error);
}

TEST_CASE("config: the shipped etc/atrium.conf loads and states the defaults") {
    auto cfg = load_config(ATRIUM_SOURCE_DIR "/etc/atrium.conf", {});
    auto defaults = parse_config("");
    CHECK(cfg.database.uri == defaults.database.uri);
    CHECK(cfg.database.name == defaults.database.name);
    CHECK(cfg.web.listen == defaults.web.listen);
}

TEST_CASE("config: a missing file is a clear error") {
    atrium::test::temp_dir dir;
    CHECK_THROWS_AS(load_config((dir / "missing.conf").string(), {}), config_error);
}

TEST_CASE("config: web.metrics_listen with web.processes > 1 is refused (each child would bind it)") {
    CHECK_NOTHROW(load_config("", {{"ATRIUM_WEB__PROCESSES", "2"}}));
    CHECK_NOTHROW(load_config("", {{"ATRIUM_WEB__METRICS_LISTEN", "127.0.0.1:9100"}}));
    CHECK_THROWS_WITH_AS(
        load_config("", {{"ATRIUM_WEB__PROCESSES", "2"}, {"ATRIUM_WEB__METRICS_LISTEN", "127.0.0.1:9100"}}),
        doctest::Contains("metrics_listen"), config_error);
}

TEST_CASE("config: database.timeout and database.retry reach the PostgreSQL pool; passwords are masked") {
    auto cfg = parse_config("[database]\nuri = postgresql://u:secret@db:5432/\nretry = 3\ntimeout = 60\n");
    CHECK(backend_uri(cfg) == "postgresql://u:secret@db:5432/?retry=3&idle_timeout_s=60");
    cfg.database.uri = "postgresql://u@db/?retry=9";
    CHECK(backend_uri(cfg) == "postgresql://u@db/?retry=9&idle_timeout_s=60");
    cfg.database.uri = "sqlite://./var";
    CHECK(backend_uri(cfg) == "sqlite://./var");
    CHECK(masked_uri("postgresql://u:secret@db:5432/") == "postgresql://u:***@db:5432/");
    CHECK(masked_uri("postgresql://u@db:5432/") == "postgresql://u@db:5432/");
    CHECK(masked_uri("sqlite://./var") == "sqlite://./var");
    // Only the authority's password: an '@' or ':' in the path or query is no credential.
    CHECK(masked_uri("postgresql://u@db/?application_name=a:b@c") == "postgresql://u@db/?application_name=a:b@c");
    CHECK(masked_uri("postgresql://u:p@ss@db/") == "postgresql://u:***@db/");
}

TEST_CASE("config: the [web] and [request] keys of the RPC server") {
    const auto defaults = parse_config("");
    CHECK(defaults.web.threads == 0);
    CHECK(defaults.web.max_connections == 1000);
    CHECK(defaults.web.max_connections_per_network == 64);
    CHECK(defaults.web.cache_timeout == 43200);
    CHECK(defaults.web.cors.empty());
    CHECK(defaults.request.max_size == 2u * 1024 * 1024);
    CHECK(defaults.request.max_size_authenticated == 2ull * 1024 * 1024 * 1024);
    auto cfg = parse_config(
        "[web]\nlisten = 127.0.0.1:0\nthreads = 2\nworkers = 3\nmax_connections = 10\nheader_timeout = 2\n"
        "keepalive_timeout = 3\nrequest_timeout = 4\ndrain_timeout = 5\nmax_header_size = 4096\n"
        "cors = https://a.example.com, https://b.example.com  http://c:8080\ncache_timeout = 60\n"
        "[request]\nmax_size = 1000\nmax_size_authenticated = 5000000000\n");
    CHECK(cfg.web.port == 0);
    CHECK(cfg.web.threads == 2);
    CHECK(cfg.web.workers == 3);
    CHECK(cfg.web.max_connections == 10);
    CHECK(cfg.web.header_timeout == 2);
    CHECK(cfg.web.keepalive_timeout == 3);
    CHECK(cfg.web.request_timeout == 4);
    CHECK(cfg.web.drain_timeout == 5);
    CHECK(cfg.web.max_header_size == 4096);
    CHECK(cfg.web.cors == std::vector<std::string>{"https://a.example.com", "https://b.example.com", "http://c:8080"});
    CHECK(cfg.web.cache_timeout == 60);
    CHECK(cfg.request.max_size == 1000);
    CHECK(cfg.request.max_size_authenticated == 5000000000ull);
    CHECK_THROWS_AS(parse_config("[web]\ncors = not-an-origin\n"), config_error);
    CHECK_THROWS_AS(parse_config("[web]\nmax_connections = 0\n"), config_error);
    CHECK(parse_config("[web]\nmax_connections_per_network = 0\n").web.max_connections_per_network == 0);
    CHECK(parse_config("[web]\nmax_connections_per_network = 8\n").web.max_connections_per_network == 8);
    CHECK_THROWS_AS(parse_config("[web]\nmax_connections_per_network = -1\n"), config_error);
    CHECK_THROWS_AS(parse_config("[request]\nmax_size = -1\n"), config_error);
    CHECK_THROWS_AS(parse_config("[request]\nmax_body = 1\n"), config_error);
    CHECK_THROWS_AS(parse_config("[web]\nmax_requests = 1\n"), config_error);
    // What common.server.version answers: the Tryton series (the 6.0 client compares its first two parts).
    CHECK(defaults.web.tryton_series == "6.0");
    CHECK(parse_config("[web]\ntryton_series = 6.0.29\n").web.tryton_series == "6.0.29");
    CHECK_THROWS_AS(parse_config("[web]\ntryton_series = six\n"), config_error);
    CHECK_THROWS_AS(parse_config("[web]\ntryton_series = 6\n"), config_error);
    // The shipped file states the same defaults.
    const auto shipped = load_config(ATRIUM_SOURCE_DIR "/etc/atrium.conf", {});
    CHECK(shipped.web.max_connections == defaults.web.max_connections);
    CHECK(shipped.web.max_connections_per_network == defaults.web.max_connections_per_network);
    CHECK(shipped.web.drain_timeout == defaults.web.drain_timeout);
    CHECK(shipped.web.tryton_series == defaults.web.tryton_series);
    CHECK(shipped.request.max_size == defaults.request.max_size);
    CHECK(shipped.request.max_size_authenticated == defaults.request.max_size_authenticated);
}

TEST_CASE("config: the [session] and [sale] keys, database.list and tpc.recovery_interval") {
    using atrium::server::config_error;
    using atrium::server::parse_config;
    const auto defaults = parse_config("");
    CHECK(defaults.session.max_age == 2592000);
    CHECK(defaults.session.timeout == 300);
    CHECK(defaults.session.max_attempt == 5);
    CHECK(defaults.session.max_attempt_ip_network == 300);
    CHECK(defaults.session.ip_network_4 == 32);
    CHECK(defaults.session.ip_network_6 == 56);
    CHECK(defaults.session.authentications == "password");
    CHECK(defaults.database.list);
    CHECK(defaults.tpc.recovery_interval == 60);
    CHECK(defaults.sections.text("sale", "warehouse", "unset").empty());
    CHECK(defaults.sections.text("sale", "orders_dir") == "./var/orders");
    CHECK(defaults.sections.text("sale", "mail_to", "unset").empty());

    const auto cfg = parse_config(
        "[session]\nmax_attempt = 3\ntimeout = 60\nauthentications = password+totp,password\n"
        "[database]\nlist = false\n[tpc]\nrecovery_interval = 0\n"
        "[sale]\nwarehouse = postgresql://app@db:5432/warehouse\nmail_to = desk@example.com\n");
    CHECK(cfg.session.max_attempt == 3);
    CHECK(cfg.session.timeout == 60);
    CHECK(cfg.session.authentications == "password+totp,password");
    CHECK_FALSE(cfg.database.list);
    CHECK(cfg.tpc.recovery_interval == 0);
    CHECK(cfg.sections.text("sale", "warehouse") == "postgresql://app@db:5432/warehouse");
    CHECK(cfg.sections.text("sale", "mail_to") == "desk@example.com");

    CHECK_THROWS_AS(parse_config("[session]\nmax_attempt = 0\n"), config_error);
    CHECK_THROWS_AS(parse_config("[session]\nip_network_4 = 33\n"), config_error);
    CHECK_THROWS_AS(parse_config("[session]\nauthentications = pass word\n"), config_error);
    CHECK_THROWS_AS(parse_config("[database]\nlist = maybe\n"), config_error);
    CHECK_THROWS_AS(parse_config("[sale]\nwarehouse = host=db\n"), config_error);
    CHECK_THROWS_AS(parse_config("[sale]\nmail_to = not an address\n"), config_error);
    CHECK_THROWS_AS(parse_config("[session]\nnope = 1\n"), config_error);
}

TEST_CASE("config: the modules' view states every key with the server's values and defaults") {
    const auto defaults = parse_config("");
    // The view's default texts, written back as an INI file, give the built-in defaults.
    std::string ini;
    for (const auto& [section, keys] : defaults.sections.values()) {
        ini += "[" + section + "]\n";
        for (const auto& [key, value] : keys) ini += key + " = " + value + "\n";
    }
    const auto again = parse_config(ini);
    const config built_in;
    CHECK(again.database == built_in.database);
    CHECK(again.web == built_in.web);
    CHECK(again.request == built_in.request);
    CHECK(again.session == built_in.session);
    CHECK(again.tpc == built_in.tpc);
    CHECK(again.mail == built_in.mail);
    CHECK(again.files == built_in.files);
    CHECK(again.queue == built_in.queue);
    CHECK(again.bus == built_in.bus);
    CHECK(again.sections.values() == built_in.sections.values());
    std::size_t keys = 0;
    for (const auto& [_, section] : defaults.sections.values()) keys += section.size();
    CHECK(keys == known_config_keys().size());
    // The shipped file states the same defaults.
    CHECK(load_config(ATRIUM_SOURCE_DIR "/etc/atrium.conf", {}).sections.values() == built_in.sections.values());

    auto cfg = parse_config("[mail]\nmaildir =  /srv/mail \n[sale]\norders_dir = /srv/orders\n");
    CHECK(cfg.sections.text("mail", "maildir") == "/srv/mail");
    CHECK(cfg.mail.maildir == "/srv/mail");
    CHECK(cfg.sections.text("sale", "orders_dir") == "/srv/orders");
    apply_environment(cfg, {{"ATRIUM_SALE__MAIL_TO", "desk@example.com"}});
    CHECK(cfg.sections.text("sale", "mail_to") == "desk@example.com");
}

TEST_CASE("config: a module's keys are known and checked with a clear message") {
    const auto& known = known_config_keys();
    for (const char* key : {"sale.warehouse", "sale.orders_dir", "sale.mail_to", "sale.mail_from"}) {
        CHECK(std::find(known.begin(), known.end(), key) != known.end());
    }
    CHECK_THROWS_WITH_AS(parse_config("[sale]\nmail_to = not an address\n", "atrium.conf"),
                         doctest::Contains("atrium.conf: [sale] mail_to: expected a mail address"), config_error);
    CHECK_THROWS_WITH_AS(parse_config("[sale]\nwarehouse = host=db\n", "atrium.conf"),
                         doctest::Contains("atrium.conf: [sale] warehouse: expected postgresql://user@host:port/dbname"),
                         config_error);
    config cfg;
    CHECK_THROWS_WITH_AS(apply_environment(cfg, {{"ATRIUM_SALE__MAIL_FROM", "nobody"}}),
                         doctest::Contains("environment ATRIUM_SALE__MAIL_FROM: expected a mail address"), config_error);
    CHECK_THROWS_WITH_AS(parse_config("[sale]\nnope = 1\n"), doctest::Contains("[sale] nope: unknown key"), config_error);
}

TEST_CASE("config: web.method_timeouts maps methods to seconds; malformed entries are refused") {
    CHECK(parse_config("").web.method_timeouts.empty());
    auto cfg = parse_config("[web]\nmethod_timeouts = model.sale.order.confirm=120, common.db.login=5\n");
    REQUIRE(cfg.web.method_timeouts.size() == 2);
    CHECK(cfg.web.method_timeouts.at("model.sale.order.confirm") == 120);
    CHECK(cfg.web.method_timeouts.at("common.db.login") == 5);
    CHECK_THROWS_WITH_AS(parse_config("[web]\nmethod_timeouts = model.sale.order.confirm\n"),
                         doctest::Contains("method=seconds"), config_error);
    CHECK_THROWS_AS(parse_config("[web]\nmethod_timeouts = a=0\n"), config_error);
    CHECK_THROWS_AS(parse_config("[web]\nmethod_timeouts = a=soon\n"), config_error);
    CHECK_THROWS_AS(parse_config("[web]\nmethod_timeouts = a/b=5\n"), config_error);
    CHECK_THROWS_WITH_AS(parse_config("[web]\nmethod_timeouts = a=5 a=6\n"), doctest::Contains("twice"), config_error);
    apply_environment(cfg, {{"ATRIUM_WEB__METHOD_TIMEOUTS", "model.x.y=7"}});
    CHECK(cfg.web.method_timeouts.size() == 1);
    CHECK(cfg.web.method_timeouts.at("model.x.y") == 7);
}

TEST_CASE("config: [queue] reaches the workers (atriumd and atrium-worker share queue_options_from)") {
    const auto defaults = queue_options_from(load_config("", {}));
    CHECK(defaults.workers == 1);
    CHECK(defaults.task.keep_done == std::chrono::hours(7 * 24));
    CHECK(defaults.cleanup_interval == std::chrono::seconds(60));  // at most a minute apart
    CHECK(defaults.listen_dsn.empty());                              // SQLite: the shared counter
    const auto set = queue_options_from(load_config("", {{"ATRIUM_QUEUE__KEEP_DONE", "10"},
                                                         {"ATRIUM_QUEUE__WORKERS", "0"},
                                                         {"ATRIUM_QUEUE__MAX_TRIES", "3"},
                                                         {"ATRIUM_DATABASE__URI", "postgresql://app@db:5432/?pool_size=4"},
                                                         {"ATRIUM_DATABASE__NAME", "shop"}}));
    CHECK(set.workers == 0);
    CHECK(set.task.max_tries == 3);
    CHECK(set.task.keep_done == std::chrono::seconds(10));
    CHECK(set.cleanup_interval == std::chrono::seconds(10));
    CHECK(set.listen_dsn == "postgresql://app@db:5432/shop");
    // keep_done = 0: rows go when done; the purge still runs, a second apart at most.
    CHECK(queue_options_from(load_config("", {{"ATRIUM_QUEUE__KEEP_DONE", "0"}})).cleanup_interval ==
          std::chrono::seconds(1));
    CHECK_THROWS_AS(load_config("", {{"ATRIUM_QUEUE__KEEP_DONE", "-1"}}), config_error);
}
