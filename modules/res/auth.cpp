#include "modules/res/auth.hpp"

#include "modules/cache_generation.hpp"

#include "modules/errors.hpp"
#include "modules/independent.hpp"
#include "modules/registry.hpp"
#include "modules/res/password.hpp"
#include "transaction/logging.hpp"
#include "transaction/remote_address.hpp"
#include "transaction/scopes.hpp"
#include "transaction/transaction.hpp"

#include <algorithm>
#include <random>
#include <sstream>

namespace atrium::modules::res {

using nlohmann::json;

namespace {

constexpr double max_failure_delay = 1.0;  // seconds

json leaf(const char* f, const char* op, json v) { return json::array({f, op, std::move(v)}); }

std::string since(int seconds) {
    return datetime::from_epoch_seconds(datetime::now().epoch_seconds() - seconds).to_sql();
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::stringstream in(s);
    std::string item;
    while (std::getline(in, item, sep)) {
        item.erase(0, item.find_first_not_of(' '));
        item.erase(item.find_last_not_of(' ') + 1);
        if (!item.empty()) out.push_back(item);
    }
    return out;
}

// The "password" authentication method: the user id, or 0.
std::int64_t password_method(const pool& p, const std::string& login, const json& parameters) {
    if (!parameters.is_object() || !parameters.contains("password") || !parameters["password"].is_string())
        throw login_exception("password", "Password for " + login, "password");  // the dialog's text
    const auto password = parameters["password"].get<std::string>();
    const model& users = p.get("res.user");
    const auto found = users.search(json::array({leaf("login", "=", login)}));  // active users only
    if (found.empty()) {
        dummy_verify(password);
        return 0;
    }
    const record r = users.browse(found[0], {"password_hash"});
    if (r.is_null("password_hash")) {
        dummy_verify(password);
        return 0;
    }
    return verify_password(password, r.get<std::string>("password_hash")) ? r.id() : 0;
}

struct session_row {
    std::int64_t id;
    std::string key;
    datetime created, last;
};

std::vector<session_row> sessions_of(const pool& p, std::int64_t user) {
    std::vector<session_row> out;
    for (const auto& r : p.get("ir.session").browse(
             p.get("ir.session").search(json::array({leaf("user", "=", user)})), {"key", "create_date", "write_date"})) {
        const auto created = r.get<datetime>("create_date");
        out.push_back({r.id(), r.get<std::string>("key"), created,
                       r.is_null("write_date") ? created : r.get<datetime>("write_date")});
    }
    return out;
}

}  // namespace

std::int64_t login(const std::string& login, const json& parameters, const std::string& remote_ip,
                   const session_settings& settings) {
    auto& txn = current();
    const auto p = current_pool();
    auto guard = without_check_access();
    const model& attempts = p->get("res.user.login.attempt");
    const auto address = make_remote_address(remote_ip, settings.ip_network_4, settings.ip_network_6);
    const std::string network = address ? address->network : remote_ip;
    const std::string window = since(settings.timeout);
    // Failures are counted per network (any login), per (login, network,
    // device) and per login. Only the attacking network is refused: a login
    // failing too often from one network does not lock its owner out of the
    // others. The per-login bound (max_attempt_ip_network across all
    // networks: a distributed guess) refuses only the networks that have
    // already failed for this login; a network without a failure may still try.
    if (attempts.search_count(json::array({leaf("ip_network", "=", network), leaf("create_date", ">", window)})) >
        settings.max_attempt_ip_network)
        throw rate_limit_exception();
    const std::string device =
        parameters.is_object() && parameters.contains("device_cookie") && parameters["device_cookie"].is_string()
            ? parameters["device_cookie"].get<std::string>() : std::string();
    auto record_attempt = [&] {
        attempts.create(json::array({{{"login", login},
                                      {"device_cookie", device.empty() ? json(nullptr) : json(device)},
                                      {"ip_address", remote_ip},
                                      {"ip_network", network}}}));
        txn.commit();  // the bookkeeping survives a rollback of what follows
    };
    const auto failed = attempts.search_count(json::array(
        {leaf("login", "=", login), leaf("ip_network", "=", network),
         leaf("device_cookie", "=", device.empty() ? json(nullptr) : json(device)), leaf("create_date", ">", window)}));
    if (failed > settings.max_attempt) {
        record_attempt();
        throw rate_limit_exception();
    }
    if (failed > 0 && attempts.search_count(json::array({leaf("login", "=", login), leaf("create_date", ">", window)})) >
                          settings.max_attempt_ip_network) {
        record_attempt();
        throw rate_limit_exception();
    }
    std::int64_t user = 0;
    for (const auto& alternative : split(settings.authentications, ',')) {
        std::int64_t agreed = -1;
        for (const auto& method : split(alternative, '+')) {
            std::int64_t id = 0;
            if (method == "password") id = password_method(*p, login, parameters);
            if (agreed == -1) agreed = id;
            else if (agreed != id) agreed = 0;
        }
        if (agreed > 0) {
            user = agreed;
            break;
        }
    }
    if (user) {
        // Only this network's failures: another network's stay counted against it.
        const auto mine = attempts.search(json::array({leaf("login", "=", login), leaf("ip_network", "=", network)}));
        attempts.remove(mine);
        return user;
    }
    record_attempt();
    if (settings.failure_delay) {
        // A random 0 … min(2^attempts − 1, max_failure_delay) s: the cap keeps
        // a flood of failures from holding a fiber each for long; past
        // max_attempt the answer is an immediate 429 instead.
        const int exponent = static_cast<int>(std::min<std::int64_t>(failed + 1, 10));
        std::random_device rd;
        std::uniform_real_distribution<double> pick(
            0.0, std::min(static_cast<double>((1 << exponent) - 1), max_failure_delay));
        txn.atexit([delay = settings.failure_delay, seconds = pick(rd)] { delay(seconds); });
    }
    return 0;
}

std::string create_session(std::int64_t user) {
    const auto p = current_pool();
    auto guard = without_check_access();
    const std::string key = random_key();
    p->get("ir.session").create(json::array({{{"user", user}, {"key", key}}}));
    return key;
}

namespace {

// Processes caching sessions (this one included) drop them: on PostgreSQL
// when this commits (NOTIFY); elsewhere through the database's change
// counter, moved now and again once the transaction has ended, so that a
// check made in between is not trusted either.
void announce_deleted_sessions(std::int64_t user) {
    auto& txn = current();
    auto& conn = txn.connection();
    if (conn.backend_name() == "postgresql") {
        conn.execute("SELECT pg_notify(?, ?)", {std::string(session_channel), std::to_string(user)});
        // The processes of this host at once (the NOTIFY arrives asynchronously).
        if (txn.database()) move_counter(host_counter(*txn.database(), session_channel));
        return;
    }
    if (!txn.database()) return;
    std::shared_ptr<db::shared_counter> counter;
    try {
        counter = txn.database()->change_counter(session_channel);
    } catch (const std::exception& error) {
        // No process can map it either, so none caches this database's sessions.
        log_warning(std::string("session deletion not announced: ") + error.what());
    }
    if (counter) {
        counter->increment();
        txn.atexit([counter] { counter->increment(); });
    }
}

void remove_sessions(const pool& p, std::int64_t user, const ids& sessions) {
    p.get("ir.session").remove(sessions);
    announce_deleted_sessions(user);
}

}  // namespace

std::optional<double> session_valid_until(std::int64_t user, const std::string& key, bool fresh,
                                          const session_settings& settings) {
    const auto p = current_pool();
    auto guard = without_check_access();
    const auto now = datetime::now().epoch_seconds();
    ids expired;
    std::optional<session_row> found;
    for (auto& s : sessions_of(*p, user)) {
        if (now - s.created.epoch_seconds() > settings.max_age) expired.push_back(s.id);
        else if (keys_equal(s.key, key)) found = s;
    }
    if (fresh && found && now - found->last.epoch_seconds() > settings.timeout) {
        expired.push_back(found->id);
        found.reset();
    }
    if (!expired.empty()) {
        if (current().readonly()) {
            // A read-only caller cannot delete: do it in a transaction of its own.
            run_independently([p, expired, user] {
                auto g = without_check_access();
                remove_sessions(*p, user, expired);
            });
        } else {
            remove_sessions(*p, user, expired);
        }
    }
    if (!found) return std::nullopt;
    return static_cast<double>(found->created.epoch_seconds() + settings.max_age);
}

bool check_session(std::int64_t user, const std::string& key, bool fresh, const session_settings& settings) {
    return session_valid_until(user, key, fresh, settings).has_value();
}

void touch_session(std::int64_t user, const std::string& key) {
    const auto p = current_pool();
    auto guard = without_check_access();
    for (auto& s : sessions_of(*p, user))
        if (keys_equal(s.key, key)) p->get("ir.session").write({s.id}, json::object());
}

void delete_session(std::int64_t user, const std::string& key) {
    const auto p = current_pool();
    auto guard = without_check_access();
    for (auto& s : sessions_of(*p, user))
        if (keys_equal(s.key, key)) remove_sessions(*p, user, {s.id});
}

void clear_sessions(std::int64_t user, const std::string& login) {
    const auto p = current_pool();
    auto guard = without_check_access();
    ids sessions;
    for (auto& s : sessions_of(*p, user)) sessions.push_back(s.id);
    if (!sessions.empty()) remove_sessions(*p, user, sessions);
    const model& devices = p->get("res.user.device");
    const auto remembered = devices.search(json::array({leaf("login", "=", login)}));
    if (!remembered.empty()) devices.remove(remembered);
}

std::string user_login(std::int64_t user) {
    const auto p = current_pool();
    auto guard = without_check_access();
    auto guard2 = inactive_records();
    const auto found = p->get("res.user").search(json::array({leaf("id", "=", user)}));
    if (found.empty()) return "";
    return p->get("res.user").browse(found[0], {"login"}).get<std::string>("login");
}

}  // namespace atrium::modules::res
